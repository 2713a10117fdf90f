//! `schema.graphql` is exactly what the server serves, and every part of it is described.

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn checked_in_schema_is_what_the_server_serves() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql at the top level");
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_customer-api"))
        .arg("schema")
        .output()
        .expect("customer-api schema runs");
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap(),
        checked_in,
        "schema.graphql is stale: run `cargo run -q -- schema > schema.graphql`"
    );
    assert_eq!(customer_api::graphql::sdl(), checked_in);
}

const INTROSPECTION: &str = "{ __schema { types { name kind description
    fields { name description args { name description } }
    inputFields { name description } } } }";

#[actix_web::test]
async fn every_type_field_and_argument_is_described() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = app.graphql(None, INTROSPECTION, json!({})).await;
    let built_in = ["String", "Boolean", "ID", "Int", "Float"];
    let described = |item: &Value| {
        item["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let mut missing = Vec::new();
    for ty in ok(&body, "__schema")["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || built_in.contains(&name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_owned());
        }
        for field in ty["fields"]
            .as_array()
            .into_iter()
            .chain(ty["inputFields"].as_array())
            .flatten()
        {
            let field_name = format!("{name}.{}", field["name"].as_str().unwrap());
            if !described(field) {
                missing.push(field_name.clone());
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(arg) {
                    missing.push(format!("{field_name}({})", arg["name"].as_str().unwrap()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}
