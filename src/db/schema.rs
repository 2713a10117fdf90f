//! The tables, the same for both databases; the types in `sql_types` are stored natively by
//! each (uuid, timestamptz, jsonb and inet in PostgreSQL, text in SQLite).

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    customers (id) {
        id -> IdSql,
        name -> Text,
        email -> Text,
        phone -> Nullable<Text>,
        address -> Nullable<AddressSql>,
        password_hash -> Nullable<Text>,
        created_at -> MomentSql,
        updated_at -> MomentSql,
        email_verified -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    sessions (id) {
        id -> IdSql,
        customer_id -> IdSql,
        refresh_hash -> Binary,
        previous_hash -> Nullable<Binary>,
        user_agent -> Nullable<Text>,
        created_at -> MomentSql,
        last_used_at -> MomentSql,
        expires_at -> MomentSql,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    account_tokens (token_hash) {
        token_hash -> Binary,
        customer_id -> IdSql,
        purpose -> Text,
        email -> Nullable<Text>,
        expires_at -> MomentSql,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    idempotency_keys (key) {
        key -> Text,
        request_hash -> Binary,
        response -> Nullable<Text>,
        created_at -> MomentSql,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    admin_token_cutoff (singleton) {
        singleton -> Bool,
        issued_before -> MomentSql,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    throttled_attempts (id) {
        id -> BigInt,
        email_key -> Text,
        client_addr -> Nullable<NetworkSql>,
        at -> MomentSql,
        action -> Text,
    }
}

diesel::joinable!(sessions -> customers (customer_id));
diesel::joinable!(account_tokens -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
    customers,
    sessions,
    account_tokens,
    idempotency_keys,
    admin_token_cutoff,
    throttled_attempts,
);
