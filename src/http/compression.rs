//! Response compression: brotli or gzip, as the client accepts, for bodies of 1 KiB or more.
//!
//! Written here rather than with actix-web's `Compress` middleware: that compresses every
//! body whatever its size (most GraphQL answers are a few hundred bytes, which compression
//! makes no smaller and costs CPU), and it would compress the same embedded GraphiQL files
//! again on every request, where these are compressed once (see `graphiql`).

use std::io::Write;

use actix_web::{
    http::header::{AcceptEncoding, Encoding, Header},
    HttpRequest,
};

/// Smaller bodies are sent as they are: within a packet either way.
pub const MIN_BYTES: usize = 1024;

/// Bodies larger than this are compressed on the blocking pool rather than inline on the
/// request's executor thread (measured: brotli at the dynamic level compresses 64 KiB of
/// GraphQL JSON in well under a millisecond; see `bench/compression.py`).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Brotli,
    Gzip,
}

/// How hard to compress: answers are compressed once each, embedded files once per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Dynamic,
    Static,
}

impl Coding {
    /// The coding the client accepts and prefers, if any; `None` sends the body as it is,
    /// also when the client refuses even that (better than an error it cannot read).
    pub fn negotiate(http: &HttpRequest) -> Option<Self> {
        let accepted = AcceptEncoding::parse(http).ok()?;
        let supported = [Encoding::brotli(), Encoding::gzip(), Encoding::identity()];
        match accepted.negotiate(supported.iter())? {
            coding if coding == Encoding::brotli() => Some(Self::Brotli),
            coding if coding == Encoding::gzip() => Some(Self::Gzip),
            _ => None,
        }
    }

    /// The `Content-Encoding` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    pub fn compress(self, body: &[u8], effort: Effort) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() / 4);
        match self {
            Self::Brotli => {
                // Quality 4 is brotli's usual choice for dynamic content (faster than gzip -6,
                // and smaller); 9 for files compressed once. Window 2^22 as brotli's default.
                let quality = match effort {
                    Effort::Dynamic => 4,
                    Effort::Static => 9,
                };
                let mut writer = brotli::CompressorWriter::new(&mut out, 4096, quality, 22);
                writer.write_all(body).expect("writing to memory");
            }
            Self::Gzip => {
                let level = match effort {
                    Effort::Dynamic => flate2::Compression::new(5),
                    Effort::Static => flate2::Compression::best(),
                };
                let mut encoder = flate2::write::GzEncoder::new(&mut out, level);
                encoder.write_all(body).expect("writing to memory");
                encoder.finish().expect("writing to memory");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use actix_web::test::TestRequest;

    use super::*;

    fn negotiated(accept: &str) -> Option<Coding> {
        let http = TestRequest::default()
            .insert_header(("accept-encoding", accept))
            .to_http_request();
        Coding::negotiate(&http)
    }

    #[test]
    fn the_client_chooses_and_identity_is_the_fallback() {
        assert_eq!(negotiated("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(negotiated("gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(negotiated("deflate, zstd"), None);
        assert_eq!(negotiated("identity;q=0, zstd"), None);
        assert_eq!(
            Coding::negotiate(&TestRequest::default().to_http_request()),
            None
        );
    }

    #[test]
    fn both_codings_round_trip() {
        let body = br#"{"data":{"me":{"name":"Ada Lovelace"}}}"#.repeat(100);
        let mut unzipped = Vec::new();
        let gzip = Coding::Gzip.compress(&body, Effort::Dynamic);
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, body);
        let brotli = Coding::Brotli.compress(&body, Effort::Static);
        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&brotli[..], 4096)
            .read_to_end(&mut unbrotlied)
            .unwrap();
        assert_eq!(unbrotlied, body);
        assert!(brotli.len() < body.len() / 10);
    }
}
