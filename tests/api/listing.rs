//! The admins' `customers` listing: keyset pagination, filters, bounds, cursors and access.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    walking_all_pages_sees_each_customer_once_while_others_are_created,
    filters_alone_and_combined,
    first_is_bounded,
    bad_cursors_are_bad_input,
    only_admins_may_list,
    total_count_and_page_info,
);

const LIST: &str = "query($first: Int, $after: String, $filter: CustomerFilter) {
    customers(first: $first, after: $after, filter: $filter) {
        edges { cursor node { customerId name email createdAt } }
        nodes { customerId }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn list(app: &TestApp, variables: Value) -> Value {
    let body = app.graphql(Some(&app.admin_token()), LIST, variables).await;
    ok(&body, "customers").clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["customerId"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates customers named `{prefix} {n}`; returns their ids, newest first.
async fn seed(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        let email = format!("{}{n}@example.io", prefix.to_lowercase().replace(' ', "."));
        ids.push(
            app.create_customer(&format!("{prefix} {n}"), &email, None)
                .await,
        );
    }
    ids.reverse();
    ids
}

async fn walking_all_pages_sees_each_customer_once_while_others_are_created(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut expected = seed(&app, "Walker", 23).await;
    seed(&app, "Other", 3).await;
    let filter = json!({ "search": "walker" });
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = list(
            &app,
            json!({ "first": 5, "after": after, "filter": filter }),
        )
        .await;
        seen.extend(ids(&page));
        assert_eq!(
            page["nodes"].as_array().unwrap().len(),
            page["edges"].as_array().unwrap().len()
        );
        pages += 1;
        // Customers created mid-walk are newer than every page already walked.
        app.create_customer(
            &format!("Walker late {pages}"),
            &format!("late{pages}@example.io"),
            None,
        )
        .await;
        if page["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected, "every match once, newest first");
    // A fresh walk sees the late ones first.
    let page = list(&app, json!({ "first": 100, "filter": filter })).await;
    let late = ids(&page);
    assert_eq!(late.len(), 23 + 5);
    expected.splice(0..0, late[..5].iter().cloned());
    assert_eq!(late, expected);
}

async fn filters_alone_and_combined(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app
        .create_customer("Ada Lovelace", "ada@analytical.io", None)
        .await;
    let before_grace = app.read(&ada).await["createdAt"].clone();
    let grace = app
        .create_customer("Grace Hopper", "Grace@Navy.mil", None)
        .await;
    let linus = app
        .create_customer("Linus 100%_done", "linus@kernel.org", None)
        .await;
    let after_linus = app.read(&linus).await["createdAt"].clone();
    let find = |filter: Value| {
        let app = &app;
        async move { ids(&list(app, json!({ "filter": filter })).await) }
    };
    assert_eq!(find(json!({ "search": "LOVE" })).await, vec![ada.clone()]);
    assert_eq!(
        find(json!({ "search": "navy" })).await,
        vec![grace.clone()],
        "email is searched"
    );
    assert_eq!(
        find(json!({ "search": "%_" })).await,
        vec![linus.clone()],
        "wildcards are literal"
    );
    assert_eq!(
        find(json!({ "search": "a" })).await,
        [grace.clone(), ada.clone()]
    );
    assert_eq!(
        find(json!({ "email": "grace@navy.MIL" })).await,
        vec![grace.clone()]
    );
    assert_eq!(
        find(json!({ "email": "grace" })).await,
        Vec::<String>::new(),
        "email is exact"
    );
    assert_eq!(
        find(json!({ "createdAfter": before_grace })).await,
        [linus.clone(), grace.clone()]
    );
    assert_eq!(
        find(json!({ "createdBefore": after_linus })).await,
        [grace.clone(), ada.clone()]
    );
    assert_eq!(
        find(json!({ "search": "a", "createdAfter": before_grace, "createdBefore": after_linus }))
            .await,
        vec![grace.clone()]
    );
    assert_eq!(
        find(json!({ "search": "ada", "email": "grace@navy.mil" })).await,
        Vec::<String>::new()
    );
    let body = app
        .graphql(
            Some(&app.admin_token()),
            LIST,
            json!({ "filter": { "search": "x".repeat(201) } }),
        )
        .await;
    assert_eq!(
        error(&body),
        ("BAD_USER_INPUT".into(), Some("filter.search".into()))
    );
}

async fn first_is_bounded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app, "Bound", 3).await;
    let admin = app.admin_token();
    for first in [0, -1, 101] {
        let body = app
            .graphql(Some(&admin), LIST, json!({ "first": first }))
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".into(), Some("first".into())),
            "{first}"
        );
    }
    assert_eq!(ids(&list(&app, json!({ "first": 1 })).await).len(), 1);
    assert_eq!(ids(&list(&app, json!({ "first": 100 })).await).len(), 3);
    assert_eq!(ids(&list(&app, json!({})).await).len(), 3, "default 20");
}

async fn bad_cursors_are_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app, "Cursor", 3).await;
    let page = list(&app, json!({ "first": 1 })).await;
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    tampered[4] = if tampered[4] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in ["", "garbage", "!!!", &cursor[..20], &tampered] {
        let body = app
            .graphql(Some(&app.admin_token()), LIST, json!({ "after": bad }))
            .await;
        assert_eq!(
            error(&body),
            ("BAD_USER_INPUT".into(), Some("after".into())),
            "{bad:?}"
        );
    }
    assert_eq!(ids(&list(&app, json!({ "after": cursor })).await).len(), 2);
}

async fn only_admins_may_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("lister@example.io").await;
    let body = app.graphql(None, LIST, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = app.graphql(Some(&token), LIST, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(body["data"], json!(null));
}

async fn total_count_and_page_info(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let all = seed(&app, "Counted", 7).await;
    let query = "query($after: String) { customers(first: 3, after: $after, filter: { search: \"counted\" }) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor } } }";
    let body = app
        .graphql(Some(&app.admin_token()), query, json!({}))
        .await;
    let first = ok(&body, "customers");
    assert_eq!(first["totalCount"], 7);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(
        first["pageInfo"]["startCursor"],
        first["edges"][0]["cursor"]
    );
    assert_eq!(first["pageInfo"]["endCursor"], first["edges"][2]["cursor"]);
    let after = first["pageInfo"]["endCursor"].clone();
    let body = app
        .graphql(Some(&app.admin_token()), query, json!({ "after": after }))
        .await;
    let second = ok(&body, "customers");
    assert_eq!(second["totalCount"], 7, "the count ignores the cursor");
    assert_eq!(second["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(all.len(), 7);
    // An empty page.
    let empty = list(&app, json!({ "filter": { "search": "nobody" } })).await;
    assert_eq!(
        empty["pageInfo"],
        json!({ "hasNextPage": false, "hasPreviousPage": false,
        "startCursor": null, "endCursor": null })
    );
}
