//! Real JavaScript clients against a test server (see `helpers::node`): the embedded GraphiQL
//! page and the Apollo Client example app in headless Chromium, with every request to another
//! host failing the test; urql in Node.

use crate::helpers::*;

/// PostgreSQL when it is there, as in production; SQLite otherwise.
fn backend() -> Backend {
    if postgres_enabled() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

#[actix_web::test]
async fn graphiql_works_offline_in_a_browser() {
    let Some(dir) = node_project("web/graphiql") else {
        return;
    };
    let app = TestApp::spawn(backend()).await;
    let (_, token) = app.customer_with_token("graphiql@example.io").await;
    let env = vec![
        ("ORIGIN", app.address.clone()),
        ("TOKEN", token),
        ("EMAIL", "graphiql@example.io".to_owned()),
        ("OUT", screenshot_dir("graphiql")),
    ];
    run_node_script(dir, "browser-test.mjs", env).await;
}

#[actix_web::test]
async fn the_example_web_app_works_in_a_browser() {
    let Some(dir) = node_project("examples/web") else {
        return;
    };
    // The app is served from another origin, which the server must allow.
    let app_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    // Short-lived access tokens, so that the app has to renew one.
    let token_ttl = std::time::Duration::from_secs(3);
    let app = TestApp::spawn_with(backend(), |s| {
        s.http.cors_allowed_origins = vec![format!("http://127.0.0.1:{app_port}")];
        s.token_ttl = token_ttl;
        s.policy.lifetimes.access = token_ttl;
    })
    .await;
    let existing = 7;
    for n in 0..existing {
        app.create_customer(
            &format!("Listed {n}"),
            &format!("listed{n}@example.io"),
            None,
        )
        .await;
    }
    let env = vec![
        ("API", format!("{}/graphql", app.address)),
        ("APP_PORT", app_port.to_string()),
        ("ADMIN_TOKEN", app.admin_token()),
        ("CUSTOMERS", existing.to_string()),
        ("TOKEN_TTL_SECONDS", token_ttl.as_secs().to_string()),
        ("OUT", screenshot_dir("example-web")),
    ];
    run_node_script(dir, "test/app.test.mjs", env).await;
}

#[actix_web::test]
async fn urql_works_with_its_persisted_exchange_and_graphcache() {
    let Some(dir) = node_project("examples/web") else {
        return;
    };
    let app = TestApp::spawn(backend()).await;
    let (_, token) = app.customer_with_token("urql@example.io").await;
    let env = vec![
        ("API", format!("{}/graphql", app.address)),
        ("EMAIL", "urql@example.io".to_owned()),
        ("TOKEN", token),
    ];
    run_node_script(dir, "test/urql.test.mjs", env).await;
}

#[actix_web::test]
async fn the_graphql_ws_client_subscribes() {
    let Some(dir) = node_project("examples/web") else {
        return;
    };
    let app = TestApp::spawn(backend()).await;
    let (id, token) = app.customer_with_token("graphql-ws@example.io").await;
    let env = vec![
        ("API", format!("{}/graphql", app.address)),
        ("TOKEN", token),
        ("CUSTOMER_ID", id),
    ];
    run_node_script(dir, "test/graphql-ws.test.mjs", env).await;
}
