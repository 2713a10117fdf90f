//! Reading answers: the data of a success, the code and field of a failure, and the rule that
//! every error carries a code and says nothing of internals.

use serde_json::Value;

/// The data of a successful operation; fails the test on errors.
pub fn ok<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    &body["data"][field]
}

/// The one error of a failed operation: (code, field).
pub fn error(body: &Value) -> (String, Option<String>) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"));
    assert_eq!(errors.len(), 1, "one error expected: {body}");
    let ext = &errors[0]["extensions"];
    (
        ext["code"].as_str().unwrap().to_owned(),
        ext["field"].as_str().map(str::to_owned),
    )
}

pub fn error_code(body: &Value) -> String {
    error(body).0
}

pub fn message(body: &Value) -> String {
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

/// Every error the server sends carries `extensions.code`, and no internal detail.
pub fn assert_every_error_has_a_code(body: &Value) {
    for error in body["errors"].as_array().into_iter().flatten() {
        assert!(
            error["extensions"]["code"].is_string(),
            "an error without extensions.code: {error}"
        );
        let message = error["message"].as_str().unwrap_or_default().to_lowercase();
        for leak in [
            "select ", "insert ", "diesel", "postgres", "sqlite", ".rs:", "panicked",
        ] {
            assert!(!message.contains(leak), "internal detail in {error}");
        }
    }
}
