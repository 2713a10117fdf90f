//! The tables, the same for both databases; the types in `sql_types` are stored natively by
//! each (uuid, timestamptz, jsonb and inet in PostgreSQL).

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
        token_version -> Integer,
        created_at -> MomentSql,
        updated_at -> MomentSql,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::*;

    login_failures (id) {
        id -> BigInt,
        email_key -> Text,
        client_addr -> Nullable<NetworkSql>,
        failed_at -> MomentSql,
    }
}

diesel::allow_tables_to_appear_in_same_query!(customers, login_failures);
