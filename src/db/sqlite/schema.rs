// The SQLite tables. Timestamps use Diesel's TimestamptzSqlite (UTC text).

diesel::table! {
    customers (id) {
        id -> Text,
        name -> Text,
        email -> Text,
        phone -> Nullable<Text>,
        address -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        token_version -> Integer,
        created_at -> TimestamptzSqlite,
        updated_at -> TimestamptzSqlite,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        email_key -> Text,
        client_addr -> Nullable<Text>,
        failed_at -> TimestamptzSqlite,
    }
}

diesel::allow_tables_to_appear_in_same_query!(customers, login_failures);
