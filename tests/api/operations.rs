//! The five operations and `me`, end to end, with the contract's update semantics.

use serde_json::json;

use crate::helpers::*;

on_both_backends!(
    create_read_and_me,
    sign_up_without_token_needs_a_password,
    update_changes_only_what_is_given,
    update_that_changes_nothing_writes_nothing,
    stale_expected_updated_at_is_a_conflict,
    delete_removes_the_customer,
    update_and_delete_of_unknown_customer_are_not_found,
    duplicate_email_in_other_case_is_a_conflict,
    concurrent_creates_with_one_email,
    login_returns_a_token_matching_its_claims,
);

async fn create_read_and_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let input = json!({
        "name": "  Ada Lovelace  ",
        "email": "Ada@Example.io",
        "phone": "+44 20 7946 0000",
        "address": { "line1": "12 St James's Sq", "city": "London", "country": "gb" },
        "password": PASSWORD,
    });
    let body = app.graphql(None, CREATE, json!({ "input": input })).await;
    let created = ok(&body, "createCustomer");
    assert_eq!(created["success"], true);
    let id = created["customerId"].as_str().unwrap();
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "ids are UUID v7");
    let customer = &created["customer"];
    assert_eq!(customer["customerId"], id);
    assert_eq!(customer["name"], "Ada Lovelace", "name is trimmed");
    assert_eq!(
        customer["email"], "Ada@Example.io",
        "email is stored as given"
    );
    assert_eq!(customer["address"]["country"], "GB");
    assert_eq!(customer["address"]["line2"], json!(null));
    assert_eq!(customer["createdAt"], customer["updatedAt"]);
    let created_at = customer["createdAt"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "UTC timestamps: {created_at}");
    chrono::DateTime::parse_from_rfc3339(created_at).unwrap();

    assert_eq!(
        &app.read(id).await,
        customer,
        "admin reads what was created"
    );
    let token = app.login("ada@example.io", PASSWORD).await;
    let me = app.graphql(Some(&token), ME, json!({})).await;
    assert_eq!(ok(&me, "me")["customerId"], id);
    let own = app.graphql(Some(&token), GET, json!({ "id": id })).await;
    assert_eq!(ok(&own, "customer"), customer);

    let admin_me = app.graphql(Some(&app.admin_token()), ME, json!({})).await;
    assert_eq!(
        ok(&admin_me, "me"),
        &json!(null),
        "me is null for an admin token"
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.read(&unknown).await,
        json!(null),
        "unknown id reads as null"
    );
}

async fn sign_up_without_token_needs_a_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let input = json!({ "name": "No Password", "email": "np@example.io" });
    let body = app.graphql(None, CREATE, json!({ "input": input })).await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".into(), Some("password".into()))
    );
    assert_eq!(app.count_rows("customers"), 0);

    // An admin may create a customer without a password, who then cannot log in.
    let id = app
        .create_customer("No Password", "np@example.io", None)
        .await;
    assert!(!id.is_empty());
    let login = app.try_login("np@example.io", PASSWORD).await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");
    assert_eq!(message(&login), "invalid email or password");
}

async fn update_changes_only_what_is_given(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let input = json!({ "name": "Grace", "email": "grace@example.io", "phone": "555 0100",
        "address": { "line1": "1 Navy Way", "city": "Arlington", "country": "US" } });
    let body = app
        .graphql(Some(&admin), CREATE, json!({ "input": input }))
        .await;
    let before = ok(&body, "createCustomer")["customer"].clone();
    let id = before["customerId"].as_str().unwrap();

    let body = app
        .graphql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "customerId": id, "name": "Grace Hopper" } }),
        )
        .await;
    let updated = ok(&body, "updateCustomer");
    assert_eq!(updated["success"], true);
    let after = &updated["customer"];
    assert_eq!(after["name"], "Grace Hopper");
    assert_eq!(after["email"], before["email"]);
    assert_eq!(after["phone"], before["phone"]);
    assert_eq!(after["address"], before["address"]);
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_eq!(updated["updatedAt"], after["updatedAt"]);
    assert!(after["updatedAt"].as_str() > before["updatedAt"].as_str());

    // A given address replaces the whole stored one.
    let body = app
        .graphql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "customerId": id, "address": { "city": "New York" } } }),
        )
        .await;
    let address = &ok(&body, "updateCustomer")["customer"]["address"];
    assert_eq!(address["city"], "New York");
    assert_eq!(address["line1"], json!(null));
    assert_eq!(address["country"], json!(null));

    // null clears phone and address.
    let body = app
        .graphql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "customerId": id, "phone": null, "address": null } }),
        )
        .await;
    let cleared = &ok(&body, "updateCustomer")["customer"];
    assert_eq!(cleared["phone"], json!(null));
    assert_eq!(cleared["address"], json!(null));
    assert_eq!(&app.read(id).await, cleared, "the change is stored");
}

async fn update_that_changes_nothing_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let input = json!({ "name": "Same", "email": "same@example.io", "phone": "555 0100" });
    let body = app
        .graphql(Some(&admin), CREATE, json!({ "input": input }))
        .await;
    let before = ok(&body, "createCustomer")["customer"].clone();
    let id = before["customerId"].as_str().unwrap();
    let same = json!({ "input": { "customerId": id, "name": " Same ", "email": "same@example.io",
        "phone": "555 0100", "expectedUpdatedAt": before["updatedAt"] } });
    let body = app.graphql(Some(&admin), UPDATE, same).await;
    let payload = ok(&body, "updateCustomer");
    assert_eq!(
        payload["updatedAt"], before["updatedAt"],
        "no write, same updatedAt"
    );
    assert_eq!(app.read(id).await, before);
}

async fn stale_expected_updated_at_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let id = app.create_customer("Linus", "linus@example.io", None).await;
    let original = app.read(&id).await;
    let first = json!({ "input": { "customerId": id, "name": "Linus T",
        "expectedUpdatedAt": original["updatedAt"] } });
    let body = app.graphql(Some(&admin), UPDATE, first).await;
    let current = ok(&body, "updateCustomer")["customer"].clone();

    let stale = json!({ "input": { "customerId": id, "name": "Someone Else",
        "expectedUpdatedAt": original["updatedAt"] } });
    let body = app.graphql(Some(&admin), UPDATE, stale).await;
    assert_eq!(
        error(&body),
        ("CONFLICT".into(), Some("expectedUpdatedAt".into()))
    );
    assert_eq!(body["data"], json!(null));
    assert_eq!(app.read(&id).await, current, "nothing changed");
}

async fn delete_removes_the_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let id = app.create_customer("Gone", "gone@example.io", None).await;
    let body = app.graphql(Some(&admin), DELETE, json!({ "id": id })).await;
    let deleted = ok(&body, "deleteCustomer");
    assert_eq!(deleted["success"], true);
    assert_eq!(deleted["customerId"], id);
    assert_eq!(app.read(&id).await, json!(null));
    assert_eq!(app.count_rows("customers"), 0);
    let again = app.graphql(Some(&admin), DELETE, json!({ "id": id })).await;
    assert_eq!(error_code(&again), "NOT_FOUND");
}

async fn update_and_delete_of_unknown_customer_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = app
        .graphql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "customerId": unknown, "name": "X" } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql(Some(&admin), DELETE, json!({ "id": unknown }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(app.count_rows("customers"), 0);
}

async fn duplicate_email_in_other_case_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    app.create_customer("First", "Dup@Example.io", None).await;
    let input = json!({ "name": "Second", "email": "dup@example.IO", "password": PASSWORD });
    let body = app.graphql(None, CREATE, json!({ "input": input })).await;
    assert_eq!(error(&body), ("CONFLICT".into(), Some("email".into())));
    assert_eq!(app.count_rows("customers"), 1);

    let other = app.create_customer("Other", "other@example.io", None).await;
    let before = app.read(&other).await;
    let body = app
        .graphql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "customerId": other, "email": "DUP@example.io" } }),
        )
        .await;
    assert_eq!(error(&body), ("CONFLICT".into(), Some("email".into())));
    assert_eq!(app.read(&other).await, before, "nothing changed");

    // A customer may change the case of their own email.
    let body = app
        .graphql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "customerId": other, "email": "OTHER@example.io" } }),
        )
        .await;
    assert_eq!(
        ok(&body, "updateCustomer")["customer"]["email"],
        "OTHER@example.io"
    );
}

async fn concurrent_creates_with_one_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let create = |name: &'static str| {
        let input = json!({ "name": name, "email": "race@example.io", "password": PASSWORD });
        app.graphql(None, CREATE, json!({ "input": input }))
    };
    let (a, b) = tokio::join!(create("A"), create("B"));
    let outcomes = [&a, &b].map(|body| body.get("errors").map(|_| error_code(body)));
    let successes = outcomes.iter().filter(|o| o.is_none()).count();
    assert_eq!(successes, 1, "exactly one create wins: {a} {b}");
    assert!(outcomes.contains(&Some("CONFLICT".to_owned())), "{a} {b}");
    assert_eq!(app.count_rows("customers"), 1);
}

async fn login_returns_a_token_matching_its_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .create_customer("Claims", "claims@example.io", Some(PASSWORD))
        .await;
    let body = app.try_login("  CLAIMS@example.io ", PASSWORD).await;
    let session = ok(&body, "authenticateCustomer");
    assert_eq!(session["customerId"], id);
    let token = session["token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["customer-api"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["role"], "customer");
    assert_eq!(claims["iss"], "customer-api");
    assert_eq!(
        claims["sid"], session["session"]["sessionId"],
        "names its session"
    );
    let exp = claims["exp"].as_i64().unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 15 * 60, "the default access-token lifetime");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(session["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at.timestamp(), exp, "expiresAt equals exp");
}
