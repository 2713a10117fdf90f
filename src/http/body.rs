//! Reading a request body whole, within a size limit and a deadline: a client that sends its
//! headers and then trickles the body (or stops) is cut off, instead of holding a connection
//! and a buffer for as long as it likes.

use std::time::Duration;

use actix_web::{
    dev::Decompress,
    error::PayloadError,
    http::header::{HeaderMap, CONTENT_LENGTH},
    web::{self, Bytes, BytesMut},
};
use futures_util::StreamExt;

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (after decompression): HTTP 413.
    TooLarge,
    /// Not complete within the deadline: HTTP 408, and the connection is closed.
    TooSlow,
    /// The client broke the stream or sent a bad encoding: HTTP 400.
    Broken,
}

/// The body, decompressed when the client sent `Content-Encoding`, of at most `limit` bytes,
/// read within `timeout`.
pub async fn read(
    payload: web::Payload, headers: &HeaderMap, limit: usize, timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = Decompress::from_headers(payload.into_inner(), headers);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_elapsed) => return Err(BodyError::TooSlow),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(PayloadError::Overflow))) => return Err(BodyError::TooLarge),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(chunk))) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}
