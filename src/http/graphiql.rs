//! GraphiQL at `/`, served from the binary: the page and its start-up script
//! (`web/graphiql/assets`) and GraphiQL's, React's and ReactDOM's own distributed files with
//! their licences, copied byte for byte from the npm packages that `web/graphiql/package.json`
//! pins (`node web/graphiql/vendor.mjs --check` proves it). No request leaves the server's
//! origin, and a Content-Security-Policy says so to the browser.

use std::sync::OnceLock;

use actix_web::{
    http::header::{self, EntityTag, HeaderValue},
    web::{self, Bytes},
    HttpRequest, HttpResponse,
};

use super::{
    caching,
    compression::{self, Coding, Effort},
    AppState,
};

/// Scripts and styles from the server only; no inline script. The one hash is of the inline
/// `<style>` element GraphiQL's dialogs inject (react-remove-scroll-bar); without it a dialog
/// opens without locking the page's scrolling and the console reports a violation.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-nzTgYzXYDNe6BAHiiI7NNlfK8n/auuOAhh2t92YvuXo='; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

struct Asset {
    /// Under `/graphiql/`; the page itself is at `/`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../web/graphiql/assets/", $name)),
        }
    };
}

const PAGE: usize = 0;
const ASSETS: [Asset; 10] = [
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("init.js", "text/javascript; charset=utf-8"),
    asset!("vendor/graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/graphiql.min.css", "text/css; charset=utf-8"),
    asset!(
        "vendor/react.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/react-dom.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/LICENSE.graphiql", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.react", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.react-dom", "text/plain; charset=utf-8"),
    asset!("vendor/SHA256SUMS", "text/plain; charset=utf-8"),
];

/// An asset's validator and compressed forms, made on first use: compressing GraphiQL's
/// megabyte of script hard takes about a second, once per process.
struct Prepared {
    etag: OnceLock<EntityTag>,
    brotli: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
}

impl Prepared {
    const fn nothing_yet() -> Self {
        Self {
            etag: OnceLock::new(),
            brotli: OnceLock::new(),
            gzip: OnceLock::new(),
        }
    }
}

static PREPARED: [Prepared; ASSETS.len()] = [const { Prepared::nothing_yet() }; ASSETS.len()];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/graphiql/{name:.+}", web::get().to(file));
}

async fn page(state: web::Data<AppState>, http: HttpRequest) -> HttpResponse {
    serve(&state, &http, PAGE).await
}

async fn file(
    state: web::Data<AppState>, http: HttpRequest, name: web::Path<String>,
) -> HttpResponse {
    match ASSETS.iter().position(|asset| asset.name == name.as_str()) {
        Some(index) if index != PAGE => serve(&state, &http, index).await,
        _ => HttpResponse::NotFound().finish(),
    }
}

/// An asset, compressed as the client accepts, or 304 when the client has it already. The
/// browser revalidates on every load (`no-cache`): the URLs do not change between releases.
async fn serve(state: &AppState, http: &HttpRequest, index: usize) -> HttpResponse {
    // Without introspection GraphiQL would show nothing; the page is not served at all.
    if !state.graphiql {
        return HttpResponse::NotFound().finish();
    }
    let asset = &ASSETS[index];
    let prepared = &PREPARED[index];
    let etag = prepared
        .etag
        .get_or_init(|| caching::entity_tag(asset.bytes));
    let client_has_it = caching::client_has(http, etag);
    let mut response = if client_has_it {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY));
    if client_has_it {
        return response.finish();
    }
    response.content_type(asset.content_type);
    let coding = Coding::negotiate(http).filter(|_| asset.bytes.len() >= compression::MIN_BYTES);
    let Some(coding) = coding else {
        return response.body(asset.bytes);
    };
    let cell = match coding {
        Coding::Brotli => &prepared.brotli,
        Coding::Gzip => &prepared.gzip,
    };
    let compressed = match cell.get() {
        Some(compressed) => compressed.clone(),
        None => {
            let made =
                web::block(move || Bytes::from(coding.compress(asset.bytes, Effort::Static))).await;
            match made {
                // Two first requests may both compress; either result is the same.
                Ok(made) => cell.get_or_init(|| made).clone(),
                Err(_) => return response.body(asset.bytes),
            }
        }
    };
    response
        .insert_header((
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.as_str()),
        ))
        .body(compressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = std::str::from_utf8(ASSETS[PAGE].bytes).unwrap();
        let mut referenced = 0;
        for reference in page
            .split(['"', '\''])
            .filter(|s| s.starts_with("/graphiql/"))
        {
            let name = &reference["/graphiql/".len()..];
            assert!(ASSETS.iter().any(|asset| asset.name == name), "{reference}");
            referenced += 1;
        }
        assert_eq!(referenced, 5);
        assert!(!page.contains("http"), "the page names no other origin");
        assert!(!page.contains("<script>"), "no inline script under the CSP");
    }
}
