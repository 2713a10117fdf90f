//! Running several instances: migrations under a lock when instances start together,
//! `migrate --check` and MIGRATE_ON_START, pgbouncer in transaction mode, and live
//! subscribers across a PostgreSQL restart.

use std::time::Duration;

use customer_api::db::Backend as Store;
use serde_json::json;

use crate::helpers::*;

fn migrations_in_repository() -> i64 {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    std::fs::read_dir(folder).unwrap().count() as i64
}

#[actix_web::test]
async fn four_instances_start_together_on_an_empty_database() {
    if !postgres_enabled() {
        return;
    }
    let db = PgTestDb::create_empty();
    let secret = std::str::from_utf8(SECRET).unwrap();
    let starts = (0..4).map(|_| {
        let url = db.url.clone();
        async move {
            let mut command = customer_api();
            command
                .env("DATABASE_URL", url)
                .env("JWT_SECRET", secret)
                .stderr(std::process::Stdio::null());
            Server::start(&mut command).await
        }
    });
    // Each start panics unless its server comes up and answers /readyz.
    let servers = futures_util::future::join_all(starts).await;
    assert_eq!(servers.len(), 4);
    let ran = "SELECT count(*) FROM __diesel_schema_migrations";
    let distinct = "SELECT count(DISTINCT version) FROM __diesel_schema_migrations";
    let app_on_db = scalar(&db.url, ran);
    assert_eq!(
        app_on_db,
        migrations_in_repository(),
        "each migration ran once"
    );
    assert_eq!(scalar(&db.url, distinct), app_on_db);
}

fn scalar(url: &str, sql: &str) -> i64 {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .unwrap()
        .count
}

#[actix_web::test]
async fn migrate_check_and_migrate_on_start() {
    let data = TempDir::new();
    let sqlite = || {
        let mut command = customer_api();
        command.env("DATA_DIR", data.path());
        command
    };
    let check = run(sqlite().args(["migrate", "--check"]));
    assert!(
        !check.status.success(),
        "a fresh SQLite file has every migration pending"
    );
    let listed = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        listed.contains("pending: 2026-11-26-000001_create_customers"),
        "{listed}"
    );
    let serve = run(sqlite().env("MIGRATE_ON_START", "false").arg("serve"));
    assert!(!serve.status.success());
    assert!(
        stderr(&serve).contains("customer-api migrate"),
        "{}",
        stderr(&serve)
    );
    assert!(run(sqlite().arg("migrate")).status.success());
    assert!(run(sqlite().args(["migrate", "--check"])).status.success());

    if !postgres_enabled() {
        return;
    }
    let db = PgTestDb::create_empty();
    let postgres = || {
        let mut command = customer_api();
        command
            .env("DATABASE_URL", &db.url)
            .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap());
        command
    };
    let check = run(postgres().args(["migrate", "--check"]));
    assert!(!check.status.success());
    let pending = String::from_utf8_lossy(&check.stdout)
        .matches("pending: ")
        .count();
    assert_eq!(pending as i64, migrations_in_repository());
    let serve = run(postgres().env("MIGRATE_ON_START", "false").arg("serve"));
    assert!(
        !serve.status.success(),
        "pending migrations, and no permission to run them"
    );
    assert!(run(postgres().arg("migrate")).status.success());
    assert!(run(postgres().args(["migrate", "--check"]))
        .status
        .success());
    let (_server, _) = Server::start(
        postgres()
            .env("MIGRATE_ON_START", "false")
            .stderr(std::process::Stdio::null()),
    )
    .await;
}

#[actix_web::test]
async fn the_server_works_through_pgbouncer_in_transaction_mode() {
    if !postgres_enabled() {
        return;
    }
    let Some(bouncer) = Pgbouncer::start() else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        let direct = match &s.storage.backend {
            Store::Postgres(pg) => pg.url.clone(),
            Store::Sqlite { .. } => unreachable!(),
        };
        rewrite_postgres_url(&mut s.storage.backend, Some(&bouncer.address()), None);
        if let Store::Postgres(pg) = &mut s.storage.backend {
            pg.transaction_pooling = true;
            // pgbouncer cannot keep a LISTEN session: that one connection goes direct.
            pg.listen_url = Some(direct);
        }
        s.live.auth_check = Duration::from_millis(200);
    })
    .await;
    // Every kind of statement, many times over (a transaction pooler hands each one any
    // server connection): sign-up, login (throttle locks), reads, guarded updates, the
    // listing with its count, refresh, and a live update heard on the direct connection.
    let (id, token) = app.customer_with_token("bouncer@example.io").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe(
        "1",
        "subscription($id: ID!) { customerChanged(customerId: $id) { customer { phone } } }",
        json!({ "id": id }),
    )
    .await;
    app.wait_for_subscriptions(1).await;
    for n in 0..20 {
        let phone = format!("+1 555 01{n:02}");
        let input = json!({ "input": { "customerId": id, "phone": phone } });
        ok(
            &app.graphql(Some(&token), UPDATE, input).await,
            "updateCustomer",
        );
        let payload = ws.next("1").await;
        assert_eq!(
            payload["data"]["customerChanged"]["customer"]["phone"],
            phone
        );
        let me = app.graphql(Some(&token), ME, json!({})).await;
        assert_eq!(ok(&me, "me")["customerId"], id);
        app.create_customer("Pooled", &format!("pooled{n}@example.io"), None)
            .await;
    }
    let listing = app
        .graphql(
            Some(&app.admin_token()),
            "{ customers(first: 5) { totalCount edges { node { email } } } }",
            json!({}),
        )
        .await;
    assert_eq!(ok(&listing, "customers")["totalCount"], 21);
    let login = app.try_login("bouncer@example.io", PASSWORD).await;
    let refresh = login["data"]["authenticateCustomer"]["refreshToken"]
        .as_str()
        .unwrap();
    let refreshed = app
        .graphql(
            None,
            "mutation($t: String!) { refreshSession(refreshToken: $t) { token } }",
            json!({ "t": refresh }),
        )
        .await;
    assert!(ok(&refreshed, "refreshSession")["token"].is_string());
}

#[actix_web::test]
async fn live_subscribers_get_their_state_again_after_a_database_restart() {
    if !postgres_enabled() {
        return;
    }
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.storage.backend = postgres_backend(cluster.url());
    })
    .await;
    let (id, token) = app.customer_with_token("restart@example.io").await;
    let admin = app.admin_token();
    let mut owner = WsClient::connect(&app, &token).await;
    owner
        .subscribe("1", "subscription($id: ID!) { customerChanged(customerId: $id) { kind customer { phone } } }", json!({ "id": id }))
        .await;
    let mut events = WsClient::connect(&app, &admin).await;
    events
        .subscribe(
            "all",
            "subscription { customerEvents { kind customerId customer { phone } } }",
            json!({}),
        )
        .await;
    app.wait_for_subscriptions(2).await;

    cluster.restart();
    // Written while the instance may still be reconnecting its LISTEN connection: the
    // notification may be lost, the state is not.
    let input = json!({ "input": { "customerId": id, "phone": "+1 555 0199" } });
    let written = loop {
        let body = app.graphql(Some(&admin), UPDATE, input.clone()).await;
        if body["errors"].is_null() {
            break body;
        }
        assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(written["data"]["updateCustomer"].is_object());
    let phone_of = |message: Received, field: &str| match message {
        Received::Message(message) => {
            message["payload"]["data"][field]["customer"]["phone"].clone()
        }
        other => panic!("expected a message, got {other:?}"),
    };
    let wait = Duration::from_secs(15);
    loop {
        let received = owner
            .receive_within(wait)
            .await
            .expect("state again after the restart");
        if phone_of(received, "customerChanged") == "+1 555 0199" {
            break;
        }
    }
    loop {
        let received = events
            .receive_within(wait)
            .await
            .expect("the change replayed");
        if phone_of(received, "customerEvents") == "+1 555 0199" {
            break;
        }
    }
    // And the feed is live again (after the replayed state, which may repeat a change that
    // was also heard).
    let input = json!({ "input": { "customerId": id, "phone": "+1 555 0198" } });
    ok(
        &app.graphql(Some(&admin), UPDATE, input).await,
        "updateCustomer",
    );
    loop {
        let received = owner.receive_within(wait).await.expect("the next change");
        if phone_of(received, "customerChanged") == "+1 555 0198" {
            break;
        }
    }
}
