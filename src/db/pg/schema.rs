// The PostgreSQL tables, as `diesel print-schema` describes them after migrating.

diesel::table! {
    customers (id) {
        id -> Uuid,
        name -> Text,
        email -> Text,
        phone -> Nullable<Text>,
        address -> Nullable<Jsonb>,
        password_hash -> Nullable<Text>,
        token_version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        email_key -> Text,
        client_addr -> Nullable<Inet>,
        failed_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(customers, login_failures);
