//! Every validation rule at and just past its limit: the right code and field, and nothing
//! written. Multi-byte text shows that limits count characters (or bytes, for passwords).

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    create_rules_at_and_past_their_limits,
    update_rules_and_nulls,
    malformed_ids_are_bad_input,
    login_input_is_validated,
    login_does_not_apply_the_sign_up_password_policy,
    remembered_validations_still_check_each_requests_variables,
);

/// An address of exactly `len` characters: a 64-character local part and dotted labels.
fn email_of_length(len: usize) -> String {
    let last_label = len - 192;
    format!(
        "{}@{}.{}.{}.io",
        "a".repeat(64),
        "x".repeat(61),
        "y".repeat(61),
        "z".repeat(last_label)
    )
}

/// (what the case is, the input fields to set, the field expected to fail or None for valid)
fn create_cases() -> Vec<(&'static str, Value, Option<&'static str>)> {
    let emoji = |n| "😀".repeat(n);
    vec![
        ("empty name", json!({ "name": "" }), Some("name")),
        ("blank name", json!({ "name": "   " }), Some("name")),
        ("200 emoji name", json!({ "name": emoji(200) }), None),
        (
            "201 emoji name",
            json!({ "name": emoji(201) }),
            Some("name"),
        ),
        (
            "control character in name",
            json!({ "name": "Ada\u{7}" }),
            Some("name"),
        ),
        (
            "malformed email",
            json!({ "email": "ada.example.io" }),
            Some("email"),
        ),
        (
            "email with display name",
            json!({ "email": "Ada <ada@example.io>" }),
            Some("email"),
        ),
        (
            "254-character email",
            json!({ "email": email_of_length(254) }),
            None,
        ),
        (
            "255-character email",
            json!({ "email": email_of_length(255) }),
            Some("email"),
        ),
        ("3-character phone", json!({ "phone": "123" }), None),
        ("2-character phone", json!({ "phone": "12" }), Some("phone")),
        (
            "32-character phone",
            json!({ "phone": "1".repeat(32) }),
            None,
        ),
        (
            "33-character phone",
            json!({ "phone": "1".repeat(33) }),
            Some("phone"),
        ),
        (
            "phone with letters",
            json!({ "phone": "555-CALL" }),
            Some("phone"),
        ),
        (
            "phone with 2 digits",
            json!({ "phone": "(1) 2" }),
            Some("phone"),
        ),
        (
            "phone with non-ASCII digits",
            json!({ "phone": "١٢٣٤" }),
            Some("phone"),
        ),
        (
            "200-character line1",
            json!({ "address": { "line1": "é".repeat(200) } }),
            None,
        ),
        (
            "201-character line1",
            json!({ "address": { "line1": "é".repeat(201) } }),
            Some("address.line1"),
        ),
        (
            "201-character city",
            json!({ "address": { "city": "x".repeat(201) } }),
            Some("address.city"),
        ),
        (
            "201-character postal code",
            json!({ "address": { "postalCode": "9".repeat(201) } }),
            Some("address.postalCode"),
        ),
        (
            "unassigned country",
            json!({ "address": { "country": "XX" } }),
            Some("address.country"),
        ),
        (
            "alpha-3 country",
            json!({ "address": { "country": "USA" } }),
            Some("address.country"),
        ),
        ("8-byte password", json!({ "password": "12345678" }), None),
        (
            "7-byte password",
            json!({ "password": "1234567" }),
            Some("password"),
        ),
        (
            "72-byte multi-byte password",
            json!({ "password": "é".repeat(36) }),
            None,
        ),
        (
            "73-byte multi-byte password",
            json!({ "password": format!("{}a", "é".repeat(36)) }),
            Some("password"),
        ),
    ]
}

async fn create_rules_at_and_past_their_limits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let mut stored = 0;
    for (index, (case, fields, failing)) in create_cases().into_iter().enumerate() {
        let mut input =
            json!({ "name": "Valid Name", "email": format!("valid{index}@example.io") });
        for (key, value) in fields.as_object().unwrap() {
            input[key] = value.clone();
        }
        let body = app
            .graphql(Some(&admin), CREATE, json!({ "input": input }))
            .await;
        match failing {
            Some(field) => {
                assert_eq!(
                    error(&body),
                    ("BAD_USER_INPUT".to_owned(), Some(field.to_owned())),
                    "{case}: {body}"
                );
                assert_eq!(body["data"], json!(null), "{case}");
            }
            None => {
                ok(&body, "createCustomer");
                stored += 1;
            }
        }
        assert_eq!(app.count_rows("customers"), stored, "{case}: rows written");
    }
}

async fn update_rules_and_nulls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let id = app
        .create_customer("Before", "before@example.io", Some(PASSWORD))
        .await;
    let before = app.read(&id).await;
    let cases = [
        (json!({ "name": null }), "name"),
        (json!({ "email": null }), "email"),
        (json!({ "password": null }), "password"),
        (json!({ "name": "😀".repeat(201) }), "name"),
        (json!({ "email": "nope" }), "email"),
        (json!({ "phone": "1" }), "phone"),
        (json!({ "address": { "country": "XX" } }), "address.country"),
        (json!({ "password": "short" }), "password"),
        // One bad field refuses the whole update, good fields included.
        (json!({ "name": "After", "phone": "x" }), "phone"),
    ];
    for (fields, field) in cases {
        let mut input = json!({ "customerId": id });
        for (key, value) in fields.as_object().unwrap() {
            input[key] = value.clone();
        }
        let body = app
            .graphql(Some(&admin), UPDATE, json!({ "input": input }))
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".to_owned(), Some(field.to_owned())),
            "{fields}: {body}"
        );
        assert_eq!(app.read(&id).await, before, "{fields}: nothing changed");
    }
    // The password is unchanged too.
    app.login("before@example.io", PASSWORD).await;
}

async fn malformed_ids_are_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    for id in [
        "",
        "42",
        "not-a-uuid",
        "0190a0a0-0000-7000-8000-00000000000",
    ] {
        let get = app.graphql(Some(&admin), GET, json!({ "id": id })).await;
        assert_eq!(
            error(&get),
            ("BAD_USER_INPUT".into(), Some("customerId".into())),
            "{id}"
        );
        let update = json!({ "input": { "customerId": id, "name": "X" } });
        let update = app.graphql(Some(&admin), UPDATE, update).await;
        assert_eq!(
            error(&update),
            ("BAD_USER_INPUT".into(), Some("customerId".into())),
            "{id}"
        );
        let delete = app.graphql(Some(&admin), DELETE, json!({ "id": id })).await;
        assert_eq!(
            error(&delete),
            ("BAD_USER_INPUT".into(), Some("customerId".into())),
            "{id}"
        );
    }
}

async fn login_input_is_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app.try_login("not-an-email", PASSWORD).await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".into(), Some("email".into()))
    );
    let body = app.try_login("a@example.io", &"x".repeat(73)).await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".into(), Some("password".into()))
    );
    assert_eq!(
        app.count_rows("throttled_attempts"),
        0,
        "refused input is not a failed login"
    );
}

/// The sign-up policy (8 to 72 bytes, no control characters) is not applied to a login: a
/// password that does not match is the one wrong-credentials answer, so a policy that grows
/// stricter one day locks nobody out.
async fn login_does_not_apply_the_sign_up_password_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Policy", "policy@example.io", Some(PASSWORD))
        .await;
    for password in ["", "short", "tab\there", &"x".repeat(72)] {
        let body = app.try_login("policy@example.io", password).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{password:?}");
        assert_eq!(message(&body), "invalid email or password");
    }
}

/// A document that validated once is not validated again (its result is remembered), but
/// each request's variables still are: bad ones are answered exactly as by a server that
/// never saw the document succeed.
async fn remembered_validations_still_check_each_requests_variables(backend: Backend) {
    let fresh = TestApp::spawn(backend).await;
    let seasoned = TestApp::spawn(backend).await;
    let id = seasoned
        .create_customer("Ada", "ada@example.com", None)
        .await;
    let cases = [
        (
            "query($id: ID!) { customer(customerId: $id) { name } }",
            json!({ "id": id }),
            vec![
                json!({ "id": true }),
                json!({ "id": null }),
                json!({ "id": [id] }),
                json!({}),
            ],
        ),
        (
            "query($id: ID = \"00000000-0000-7000-8000-000000000001\") { customer(customerId: $id) { name } }",
            json!({}),
            vec![json!({ "id": null }), json!({ "id": 1.5 })],
        ),
        (
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customerId } }",
            json!({ "input": { "name": "Grace", "email": "grace@example.com", "password": "correct horse battery" } }),
            vec![
                json!({ "input": { "name": "Linus" } }),
                json!({ "input": { "name": "Linus", "email": "l@example.com", "nope": 1 } }),
                json!({ "input": { "name": 5, "email": "l@example.com" } }),
                json!({ "input": { "name": "Linus", "email": "l@example.com", "address": { "city": 5 } } }),
                json!({ "input": { "name": "Linus", "email": null } }),
                json!({ "input": "Linus" }),
            ],
        ),
        (
            "query($first: Int, $filter: CustomerFilter) { customers(first: $first, filter: $filter) { edges { cursor } } }",
            json!({ "first": 5, "filter": { "search": "a" } }),
            vec![
                json!({ "first": "five" }),
                json!({ "filter": { "nope": "x" } }),
                json!({ "filter": { "createdAfter": 5 } }),
                json!({ "filter": [{ "search": "a" }] }),
            ],
        ),
    ];
    let admin = seasoned.admin_token();
    for (document, good, bad) in cases {
        let answer = seasoned.graphql(Some(&admin), document, good).await;
        assert!(answer.get("errors").is_none(), "{document}: {answer}");
        for variables in bad {
            let remembered = seasoned
                .graphql(Some(&admin), document, variables.clone())
                .await;
            let first_seen = fresh
                .graphql(Some(&fresh.admin_token()), document, variables.clone())
                .await;
            assert!(
                remembered.get("errors").is_some(),
                "{variables}: {remembered}"
            );
            assert_eq!(remembered, first_seen, "{document} with {variables}");
        }
    }
    assert_eq!(fresh.count_rows("customers"), 0, "no bad input was written");
}
