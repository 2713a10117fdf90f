//! Client identity: `Customer.id` is one opaque global id in every answer that carries the
//! customer, and `node(id:)` finds it again under the access rules of `customer`.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    the_global_id_is_the_same_everywhere,
    node_follows_the_access_rules_of_customer,
    node_refuses_what_is_not_a_global_id,
);

const NODE: &str =
    "query($id: ID!) { node(id: $id) { __typename id ... on Customer { customerId email } } }";

async fn the_global_id_is_the_same_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token();
    let created = app
        .graphql(
            Some(&admin),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id customerId } } }",
            json!({ "input": { "name": "Ada", "email": "ada@example.io", "password": PASSWORD } }),
        )
        .await;
    let customer = &ok(&created, "createCustomer")["customer"];
    let (global, uuid) = (
        customer["id"].as_str().unwrap(),
        customer["customerId"].as_str().unwrap(),
    );
    assert_ne!(global, uuid, "`id` is the global id, `customerId` the UUID");
    assert!(!global.contains(uuid), "the global id is opaque: {global}");

    let token = app.login("ada@example.io", PASSWORD).await;
    let id_in = |body: &Value, field: &str| ok(body, field)["id"].clone();
    let me = app.graphql(Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!(id_in(&me, "me"), global);
    let read = app
        .graphql(
            Some(&admin),
            "query($id: ID!) { customer(customerId: $id) { id } }",
            json!({ "id": uuid }),
        )
        .await;
    assert_eq!(id_in(&read, "customer"), global);
    let updated = app
        .graphql(
            Some(&token),
            "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id phone } } }",
            json!({ "input": { "customerId": uuid, "phone": "+1 555 0100" } }),
        )
        .await;
    assert_eq!(ok(&updated, "updateCustomer")["customer"]["id"], global);
    let listed = app
        .graphql(
            Some(&admin),
            "{ customers(first: 5) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(ok(&listed, "customers")["edges"][0]["node"]["id"], global);
    let node = app
        .graphql(Some(&token), NODE, json!({ "id": global }))
        .await;
    assert_eq!(
        ok(&node, "node"),
        &json!({ "__typename": "Customer", "id": global, "customerId": uuid, "email": "ada@example.io" })
    );
}

async fn node_follows_the_access_rules_of_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (own, token) = app.customer_with_token("own@example.io").await;
    let (other, _) = app.customer_with_token("other@example.io").await;
    let global_id = |uuid: &str| {
        let app = &app;
        let uuid = uuid.to_owned();
        async move {
            let body = app
                .graphql(
                    Some(&app.admin_token()),
                    "query($id: ID!) { customer(customerId: $id) { id } }",
                    json!({ "id": uuid }),
                )
                .await;
            ok(&body, "customer")["id"].as_str().unwrap().to_owned()
        }
    };
    let (own_global, other_global) = (global_id(&own).await, global_id(&other).await);
    let node = |token: Option<String>, id: String| {
        let app = &app;
        async move {
            app.graphql(token.as_deref(), NODE, json!({ "id": id }))
                .await
        }
    };
    assert_eq!(
        ok(&node(Some(token.clone()), own_global.clone()).await, "node")["customerId"],
        own
    );
    let forbidden = node(Some(token.clone()), other_global.clone()).await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
    assert_eq!(forbidden["data"]["node"], json!(null));
    assert_eq!(error_code(&node(None, own_global).await), "UNAUTHENTICATED");
    assert_eq!(
        ok(
            &node(Some(app.admin_token()), other_global.clone()).await,
            "node"
        )["customerId"],
        other
    );

    // Once deleted, the id names nothing.
    app.graphql(Some(&app.admin_token()), DELETE, json!({ "id": other }))
        .await;
    assert_eq!(
        ok(&node(Some(app.admin_token()), other_global).await, "node"),
        &json!(null)
    );
}

async fn node_refuses_what_is_not_a_global_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (uuid, _) = app.customer_with_token("plain@example.io").await;
    for bad in [uuid.as_str(), "", "not base64!", "U2Vzc2lvbjox"] {
        let body = app
            .graphql(Some(&app.admin_token()), NODE, json!({ "id": bad }))
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".into(), Some("id".into())),
            "{bad}: {body}"
        );
    }
}
