//! The one way to run blocking database work: on Tokio's blocking pool, inside the caller's
//! tracing span, so the async executor threads never stall. (bcrypt has threads of its own,
//! see `auth::password`.)

use tracing::Instrument;

use crate::error::AppError;

/// Runs `work` on the blocking pool and returns its result.
pub async fn run<T, F>(work: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .in_current_span()
        .await
        .map_err(AppError::internal)?
}
