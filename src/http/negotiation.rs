//! Media types, as GraphQL over HTTP says: POST bodies are JSON only, and the response type
//! follows the client's `Accept` header, q-values included.

use actix_web::http::header::{HeaderMap, ACCEPT, CONTENT_TYPE};

/// The two response types the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: request errors are HTTP 4xx.
    GraphqlResponse,
    /// `application/json`: every GraphQL answer is HTTP 200 (for clients that predate the
    /// GraphQL-over-HTTP spec).
    Json,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json",
            Self::Json => "application/json",
        }
    }
}

/// The client accepts neither response type (HTTP 406).
#[derive(Debug, PartialEq, Eq)]
pub struct NotAcceptable;

/// Whether a POST body is declared as JSON: `application/json`, with no parameter but an
/// UTF-8 charset. Anything else (forms, multipart, `text/plain`, `application/graphql`) is
/// HTTP 415, which also keeps plain HTML forms on other sites from driving the API.
pub fn is_json_body(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|param| {
            param.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("charset")
                    && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

/// The response type for this client's `Accept` header. With no header, or a tie between
/// wildcards only, plain JSON: what clients written before the GraphQL-over-HTTP spec expect.
pub fn response_type(headers: &HeaderMap) -> Result<MediaType, NotAcceptable> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(MediaType::Json);
    };
    let graphql = preference(accept, "application", "graphql-response+json");
    let json = preference(accept, "application", "json");
    match (graphql, json) {
        (None, None) => Err(NotAcceptable),
        (Some(_), None) => Ok(MediaType::GraphqlResponse),
        (None, Some(_)) => Ok(MediaType::Json),
        (Some(g), Some(j)) => Ok(if (g.q, g.specificity) > (j.q, j.specificity) {
            MediaType::GraphqlResponse
        } else {
            MediaType::Json
        }),
    }
}

/// How much a client wants one media type: the q-value of the most specific range of its
/// `Accept` header that matches (an exact type beats `type/*`, which beats `*/*`).
#[derive(Debug, Clone, Copy)]
struct Preference {
    /// In thousandths, as q-values have at most three decimals.
    q: u16,
    specificity: u8,
}

/// `None` when no range matches, or the matching range has q=0.
fn preference(accept: &str, ty: &str, subtype: &str) -> Option<Preference> {
    let mut best: Option<Preference> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let Some((range_type, range_subtype)) = parts.next().and_then(|r| r.split_once('/')) else {
            continue;
        };
        let specificity = match (range_type, range_subtype) {
            (t, s) if t.eq_ignore_ascii_case(ty) && s.eq_ignore_ascii_case(subtype) => 2,
            (t, "*") if t.eq_ignore_ascii_case(ty) => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1000), |(_, value)| q_value(value.trim()))
            .unwrap_or(0);
        if best.is_none_or(|b| specificity > b.specificity) {
            best = Some(Preference { q, specificity });
        }
    }
    best.filter(|b| b.q > 0)
}

/// A q-value (`0` to `1` with up to three decimals) in thousandths.
fn q_value(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn accept(value: &str) -> Result<MediaType, NotAcceptable> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        response_type(&headers)
    }

    #[test]
    fn accept_honours_q_values_and_specificity() {
        use MediaType::*;
        assert_eq!(response_type(&HeaderMap::new()), Ok(Json));
        assert_eq!(accept("*/*"), Ok(Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Ok(GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Ok(GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json"),
            Ok(Json)
        );
        assert_eq!(
            accept("application/json;q=0.1, */*;q=0.8"),
            Ok(GraphqlResponse),
            "the wildcard's 0.8 beats json's own 0.1"
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0, */*"),
            Ok(Json)
        );
        assert_eq!(accept("text/html"), Err(NotAcceptable));
        assert_eq!(accept("application/json;q=0"), Err(NotAcceptable));
        assert_eq!(accept("application/*;q=0.3"), Ok(Json));
    }

    #[test]
    fn only_json_bodies_are_accepted() {
        let json = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json_body(&headers)
        };
        assert!(json("application/json"));
        assert!(json("Application/JSON; charset=UTF-8"));
        assert!(json("application/json;charset=\"utf-8\""));
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/graphql",
            "application/json; charset=latin1",
            "application/jsonp",
        ] {
            assert!(!json(refused), "{refused}");
        }
        assert!(!is_json_body(&HeaderMap::new()));
    }
}
