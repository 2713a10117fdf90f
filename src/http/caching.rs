//! HTTP caching of GET answers: an entity tag from the body, so a client that has the answer
//! already gets 304 and no body, and the `Cache-Control` of an answer.

use actix_web::{
    http::header::{EntityTag, Header, IfNoneMatch},
    HttpRequest,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

/// What every answer at /graphql depends on besides its URL: the media type, the coding, and
/// the token (two callers' answers to the same query differ).
pub const VARY: &str = "Accept, Accept-Encoding, Authorization";

/// A weak tag: the same for every coding of the body, which are equal in meaning only.
pub fn entity_tag(body: &[u8]) -> EntityTag {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    EntityTag::new_weak(URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18]))
}

/// Whether the request's `If-None-Match` names this tag (weak comparison, as RFC 9110 asks).
pub fn client_has(http: &HttpRequest, etag: &EntityTag) -> bool {
    match IfNoneMatch::parse(http) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(etag)),
        Err(_) => false,
    }
}

/// The `Cache-Control` of a successful GET answer. An answer for a token is the caller's own
/// and is never stored; otherwise async-graphql's hints from the schema decide, and without
/// any a cache may keep the answer but must ask again (with the tag) before using it.
pub fn cache_control(token_used: bool, hints: &async_graphql::CacheControl) -> String {
    if token_used {
        return "private, no-store".to_owned();
    }
    hints.value().unwrap_or_else(|| "no-cache".to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_tag_matches_itself_weakly_and_nothing_else() {
        let tag = entity_tag(b"{\"data\":{}}");
        assert!(tag.weak);
        let matching = TestRequest::default()
            .insert_header(("if-none-match", format!("W/\"x\", {tag}")))
            .to_http_request();
        assert!(client_has(&matching, &tag));
        let strong_form = TestRequest::default()
            .insert_header(("if-none-match", format!("\"{}\"", tag.tag())))
            .to_http_request();
        assert!(client_has(&strong_form, &tag));
        let other = TestRequest::default()
            .insert_header(("if-none-match", entity_tag(b"{}").to_string()))
            .to_http_request();
        assert!(!client_has(&other, &tag));
        assert!(!client_has(&TestRequest::default().to_http_request(), &tag));
    }

    #[test]
    fn a_token_means_no_store_whatever_the_hints() {
        let public = async_graphql::CacheControl {
            public: true,
            max_age: 60,
        };
        assert_eq!(cache_control(true, &public), "private, no-store");
        assert_eq!(cache_control(false, &public), "max-age=60");
        assert_eq!(
            cache_control(false, &async_graphql::CacheControl::default()),
            "no-cache"
        );
    }
}
