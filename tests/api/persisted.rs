//! Persisted documents: Apollo's automatic persisted queries over POST and GET (as Apollo
//! Client and urql send them), and trusted documents from a manifest, alone or not.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    automatic_persisted_queries_over_post,
    automatic_persisted_queries_over_get,
    a_hash_that_is_not_the_querys_is_refused,
    trusted_documents_only,
    trusted_documents_alongside_others,
);

const ME: &str = "query Me { me { id email } }";

fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// Apollo's extension; urql adds `miss: true` when it retries with the text.
fn persisted(query: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(query), "miss": true } })
}

async fn post(app: &TestApp, token: Option<&str>, accept: &str, body: Value) -> (u16, Value) {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", "application/json"), ("accept", accept)];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let (status, _, body) = post_raw(app, &headers, body.to_string()).await;
    (status, body)
}

async fn get(app: &TestApp, token: &str, params: &[(&str, String)]) -> (u16, Value) {
    let mut response = app
        .client()
        .get(format!("{}/graphql", app.address))
        .query(&params)
        .unwrap()
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    let body = response.json::<Value>().await.unwrap();
    assert_every_error_has_a_code(&body);
    (response.status().as_u16(), body)
}

fn assert_not_found(status: u16, body: &Value) {
    assert_eq!(
        status, 200,
        "the client retries on an ordinary answer: {body}"
    );
    assert_eq!(message(body), "PersistedQueryNotFound");
    assert_eq!(error_code(body), "PERSISTED_QUERY_NOT_FOUND");
}

async fn automatic_persisted_queries_over_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("apq@example.io").await;
    let hash_only = json!({ "operationName": "Me", "extensions": persisted(ME) });
    // Both media types: the miss is 200 either way.
    for accept in ["application/graphql-response+json", "application/json"] {
        let (status, body) = post(&app, Some(&token), accept, hash_only.clone()).await;
        assert_not_found(status, &body);
    }
    let with_text = json!({ "query": ME, "operationName": "Me", "extensions": persisted(ME) });
    let (status, body) = post(&app, Some(&token), "application/json", with_text).await;
    assert_eq!(status, 200);
    assert_eq!(ok(&body, "me")["email"], "apq@example.io");
    let (status, body) = post(&app, Some(&token), "application/json", hash_only).await;
    assert_eq!(status, 200);
    assert_eq!(
        ok(&body, "me")["email"],
        "apq@example.io",
        "now known by its hash"
    );

    // Apollo hashes mutations too.
    let logout = "mutation Out { logout { success } }";
    let (status, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "extensions": persisted(logout) }),
    )
    .await;
    assert_not_found(status, &body);
    let (_, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "query": logout, "extensions": persisted(logout) }),
    )
    .await;
    assert_eq!(ok(&body, "logout")["success"], true);
}

async fn automatic_persisted_queries_over_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("urql@example.io").await;
    let extensions = persisted(ME).to_string();
    let hash_only = [
        ("operationName", "Me".to_owned()),
        ("extensions", extensions.clone()),
    ];
    let (status, body) = get(&app, &token, &hash_only).await;
    assert_not_found(status, &body);
    let with_text = [("query", ME.to_owned()), ("extensions", extensions.clone())];
    let (status, body) = get(&app, &token, &with_text).await;
    assert_eq!(
        (status, &ok(&body, "me")["email"]),
        (200, &json!("urql@example.io"))
    );
    let (status, body) = get(&app, &token, &hash_only).await;
    assert_eq!(
        (status, &ok(&body, "me")["email"]),
        (200, &json!("urql@example.io"))
    );

    // A mutation known by its hash (registered by another customer's logout) still does not
    // run over GET.
    let (_, other) = app.customer_with_token("other@example.io").await;
    let logout = "mutation { logout { success } }";
    post(
        &app,
        Some(&other),
        "application/json",
        json!({ "query": logout, "extensions": persisted(logout) }),
    )
    .await;
    let (status, _) = get(
        &app,
        &token,
        &[("extensions", persisted(logout).to_string())],
    )
    .await;
    assert_eq!(status, 405);
    let (_, body) = get(&app, &token, &hash_only).await;
    assert_eq!(
        ok(&body, "me")["email"],
        "urql@example.io",
        "the session was not ended"
    );

    let (status, body) = get(&app, &token, &[("extensions", "{not json".to_owned())]).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "GRAPHQL_PARSE_FAILED".to_owned())
    );
}

async fn a_hash_that_is_not_the_querys_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("mismatch@example.io").await;
    let other = "{ me { name } }";
    for accept in ["application/graphql-response+json", "application/json"] {
        let body = json!({ "query": ME, "extensions": persisted(other) });
        let (status, body) = post(&app, Some(&token), accept, body).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "BAD_USER_INPUT".to_owned()),
            "{body}"
        );
    }
    // Nothing was remembered under the wrong hash.
    let (status, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "extensions": persisted(other) }),
    )
    .await;
    assert_not_found(status, &body);
    for malformed in [
        json!({ "version": 2, "sha256Hash": sha256_hex(ME) }),
        json!({ "version": 1 }),
        json!("x"),
    ] {
        let body = json!({ "query": ME, "extensions": { "persistedQuery": malformed } });
        let (status, body) = post(&app, Some(&token), "application/json", body).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "BAD_USER_INPUT".to_owned()),
            "{body}"
        );
    }
}

/// A manifest in Apollo's format, with `ME` and the mutations that sign up and log in.
fn apollo_manifest(dir: &TempDir) -> std::path::PathBuf {
    let operations: Vec<Value> = [("Me", "query", ME), ("Create", "mutation", CREATE), ("LogIn", "mutation", LOGIN)]
        .iter()
        .map(|(name, kind, body)| json!({ "id": sha256_hex(body), "name": name, "type": kind, "body": body }))
        .collect();
    let manifest = json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations });
    let path = dir.path().join("persisted-query-manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    path
}

async fn trusted_documents_only(backend: Backend) {
    let dir = TempDir::new();
    let manifest = apollo_manifest(&dir);
    let app = TestApp::spawn_with(backend, |s| {
        s.documents.manifest = Some(manifest);
        s.documents.trusted_only = true;
    })
    .await;
    let (_, token) = app.customer_with_token("mobile@example.io").await;
    // Listed: by hash alone at first sight, or by text.
    let (status, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "extensions": persisted(ME) }),
    )
    .await;
    assert_eq!(
        (status, &ok(&body, "me")["email"]),
        (200, &json!("mobile@example.io"))
    );
    let (_, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "query": ME }),
    )
    .await;
    assert_eq!(ok(&body, "me")["email"], "mobile@example.io");
    // Anything else is refused unparsed: even text that is not GraphQL gets the list's code.
    for query in [
        "{ me { email } }",
        "{ this is not graphql",
        "{ __schema { types { name } } }",
    ] {
        for accept in ["application/graphql-response+json", "application/json"] {
            let (status, body) = post(&app, Some(&token), accept, json!({ "query": query })).await;
            assert_eq!(
                error_code(&body),
                "PERSISTED_QUERY_NOT_IN_LIST",
                "{query}: {body}"
            );
            assert_eq!(
                status,
                if accept == "application/json" {
                    200
                } else {
                    400
                }
            );
        }
        let hashed = json!({ "query": query, "extensions": persisted(query) });
        let (_, body) = post(&app, Some(&token), "application/json", hashed).await;
        assert_eq!(
            error_code(&body),
            "PERSISTED_QUERY_NOT_IN_LIST",
            "no registration either"
        );
    }
    let (status, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "extensions": persisted("{ x }") }),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (200, "PERSISTED_QUERY_NOT_IN_LIST".to_owned())
    );
}

async fn trusted_documents_alongside_others(backend: Backend) {
    let dir = TempDir::new();
    // graphql-codegen's map format.
    let path = dir.path().join("persisted-documents.json");
    std::fs::write(&path, json!({ sha256_hex(ME): ME }).to_string()).unwrap();
    let app = TestApp::spawn_with(backend, |s| s.documents.manifest = Some(path)).await;
    let (_, token) = app.customer_with_token("web@example.io").await;
    let (_, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "extensions": persisted(ME) }),
    )
    .await;
    assert_eq!(ok(&body, "me")["email"], "web@example.io");
    let (_, body) = post(
        &app,
        Some(&token),
        "application/json",
        json!({ "query": "{ me { name } }" }),
    )
    .await;
    assert!(body["errors"].is_null(), "other documents run too: {body}");
}
