//! What HTTP does for clients on slow links: compressed answers, entity tags and 304s for GET,
//! `Cache-Control` and `Vary`; and the same for GraphiQL's embedded files.

use std::io::Read;

use awc::http::header::HeaderMap;
use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    large_answers_are_compressed_as_the_client_accepts,
    get_answers_carry_validators_and_cache_control,
    graphiql_files_are_embedded_compressed_and_revalidated,
);

/// Raw response: (status, headers, body bytes as sent).
async fn fetch(
    app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>,
) -> (u16, HeaderMap, Vec<u8>) {
    let url = format!("{}{path}", app.address);
    let mut request = match method {
        "GET" => app.client().get(url),
        _ => app
            .client()
            .post(url)
            .insert_header(("content-type", "application/json")),
    };
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = match body {
        Some(body) => request.send_body(body.to_string()).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let bytes = response.body().limit(16 << 20).await.unwrap().to_vec();
    (
        response.status().as_u16(),
        response.headers().clone(),
        bytes,
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

fn decode(coding: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(bytes),
        Some("br") => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

async fn large_answers_are_compressed_as_the_client_accepts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for n in 0..30 {
        app.create_customer(&format!("Customer {n}"), &format!("c{n}@example.io"), None)
            .await;
    }
    let bearer = format!("Bearer {}", app.admin_token());
    let listing = json!({ "query": "{ customers(first: 30) { edges { node { id customerId name email createdAt } } } }" });
    let (_, headers, plain) = fetch(
        &app,
        "POST",
        "/graphql",
        &[("authorization", &bearer)],
        Some(listing.clone()),
    )
    .await;
    assert_eq!(
        header(&headers, "content-encoding"),
        None,
        "nothing accepted, nothing encoded"
    );
    assert!(plain.len() > 2048, "a large answer: {} bytes", plain.len());
    for (accept, expected) in [
        ("gzip, deflate, br", Some("br")),
        ("gzip", Some("gzip")),
        ("br;q=0.1, gzip;q=0.9", Some("gzip")),
        ("deflate", None),
    ] {
        let (status, headers, sent) = fetch(
            &app,
            "POST",
            "/graphql",
            &[("authorization", &bearer), ("accept-encoding", accept)],
            Some(listing.clone()),
        )
        .await;
        assert_eq!(status, 200);
        let coding = header(&headers, "content-encoding");
        assert_eq!(coding, expected, "{accept}");
        if expected.is_some() {
            assert!(
                sent.len() * 3 < plain.len(),
                "{accept}: {} of {} bytes",
                sent.len(),
                plain.len()
            );
        }
        assert_eq!(decode(coding, &sent), plain, "{accept}");
        let vary = header(&headers, "vary").unwrap();
        for name in ["Accept", "Accept-Encoding", "Authorization"] {
            assert!(vary.split(", ").any(|v| v == name), "Vary: {vary}");
        }
    }
    // A small answer is sent as it is: compressing it would save nothing.
    let (_, headers, sent) = fetch(
        &app,
        "POST",
        "/graphql",
        &[("accept-encoding", "br, gzip")],
        Some(json!({ "query": "{ __typename }" })),
    )
    .await;
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(
        serde_json::from_slice::<Value>(&sent).unwrap(),
        json!({ "data": { "__typename": "Query" } })
    );
}

async fn get_answers_carry_validators_and_cache_control(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.customer_with_token("etag@example.io").await;
    let bearer = format!("Bearer {token}");
    let me = "/graphql?query=%7B%20me%20%7B%20phone%20%7D%20%7D";

    // Anonymous: no hints in the schema, so a cache must revalidate, with the tag.
    let anonymous = "/graphql?query=%7B__typename%7D";
    let (status, headers, _) = fetch(&app, "GET", anonymous, &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let etag = header(&headers, "etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let (status, headers, body) =
        fetch(&app, "GET", anonymous, &[("if-none-match", &etag)], None).await;
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(header(&headers, "etag"), Some(etag.as_str()));

    // With a token: the caller's own, never stored; the tag follows the data.
    let (status, headers, _) = fetch(&app, "GET", me, &[("authorization", &bearer)], None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("private, no-store"));
    assert!(header(&headers, "vary").unwrap().contains("Authorization"));
    let before = header(&headers, "etag").unwrap().to_owned();
    let (status, _, _) = fetch(
        &app,
        "GET",
        me,
        &[("authorization", &bearer), ("if-none-match", &before)],
        None,
    )
    .await;
    assert_eq!(status, 304);
    app.graphql(
        Some(&token),
        UPDATE,
        json!({ "input": { "customerId": id, "phone": "+1 555 0199" } }),
    )
    .await;
    let (status, headers, body) = fetch(
        &app,
        "GET",
        me,
        &[("authorization", &bearer), ("if-none-match", &before)],
        None,
    )
    .await;
    assert_eq!(status, 200, "changed data is sent again");
    assert_ne!(header(&headers, "etag"), Some(before.as_str()));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["data"]["me"]["phone"],
        "+1 555 0199"
    );

    // Failures are never kept; POST answers have no tag.
    let mutation = "/graphql?query=mutation%7Blogout%7Bsuccess%7D%7D";
    let (status, headers, _) =
        fetch(&app, "GET", mutation, &[("authorization", &bearer)], None).await;
    assert_eq!(
        (status, header(&headers, "cache-control")),
        (405, Some("no-store"))
    );
    assert!(header(&headers, "etag").is_none());
    let (_, headers, _) = fetch(
        &app,
        "POST",
        "/graphql",
        &[],
        Some(json!({ "query": "{ __typename }" })),
    )
    .await;
    assert!(header(&headers, "etag").is_none());
}

async fn graphiql_files_are_embedded_compressed_and_revalidated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, headers, page) = fetch(&app, "GET", "/", &[], None).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/html"));
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self';"),
        "{csp}"
    );
    let page = String::from_utf8(page).unwrap();
    let scripts: Vec<&str> = page
        .split('"')
        .filter(|part| part.starts_with("/graphiql/"))
        .collect();
    assert_eq!(scripts.len(), 5, "{page}");
    for path in scripts.into_iter().chain([
        "/graphiql/vendor/LICENSE.graphiql",
        "/graphiql/vendor/LICENSE.react",
    ]) {
        let (status, headers, plain) = fetch(&app, "GET", path, &[], None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        let (_, encoded_headers, encoded) =
            fetch(&app, "GET", path, &[("accept-encoding", "br, gzip")], None).await;
        let coding = header(&encoded_headers, "content-encoding");
        assert_eq!(decode(coding, &encoded), plain, "{path}");
        let etag = header(&headers, "etag").unwrap();
        let (status, _, body) = fetch(&app, "GET", path, &[("if-none-match", etag)], None).await;
        assert_eq!((status, body.len()), (304, 0), "{path}");
    }
    let (_, headers, script) = fetch(
        &app,
        "GET",
        "/graphiql/vendor/graphiql.min.js",
        &[("accept-encoding", "gzip")],
        None,
    )
    .await;
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert!(
        script.len() < 400_000,
        "GraphiQL's megabyte compressed: {} bytes",
        script.len()
    );
    for missing in [
        "/graphiql/../Cargo.toml",
        "/graphiql/index.html",
        "/graphiql/vendor/nope.js",
    ] {
        let (status, _, _) = fetch(&app, "GET", missing, &[], None).await;
        assert_eq!(status, 404, "{missing}");
    }
}
