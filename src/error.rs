//! One error vocabulary for the whole server. Every failure a client can see is an
//! [`AppError`]; this module alone turns it into a GraphQL error with `extensions.code`, and
//! is the one place where the internal cause of a failure is logged (never sent).

use std::error::Error as StdError;

type Source = Box<dyn StdError + Send + Sync>;

/// Messages of UNAUTHENTICATED errors; fixed so that they reveal nothing.
pub mod unauthenticated {
    pub const TOKEN_REQUIRED: &str = "authentication required: send Authorization: Bearer <token>";
    pub const INVALID_TOKEN: &str = "the token is invalid, expired or revoked";
    pub const BAD_CREDENTIALS: &str = "invalid email or password";
    pub const SIGNUP_DISABLED: &str = "self sign-up is disabled: an admin token is required";
}

/// A failure as clients see it.
///
/// Deliberately not `Display`: async-graphql turns any `Display` error into a message-only
/// GraphQL error, so a stray `?` would lose the code. The only way out is the `From` below.
#[derive(Debug)]
pub enum AppError {
    /// Input that breaks a rule of the contract; `field` names the input field.
    BadInput {
        field: String,
        message: String,
    },
    Unauthenticated(&'static str),
    Forbidden,
    NotFound,
    Conflict {
        field: Option<&'static str>,
        message: &'static str,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    /// The database cannot be reached; the source is logged, never sent.
    Unavailable(Source),
    /// Anything else; the source is logged, never sent.
    Internal(Source),
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn email_taken() -> Self {
        Self::Conflict {
            field: Some("email"),
            message: "a customer with this email already exists",
        }
    }

    pub fn stale_update() -> Self {
        Self::Conflict {
            field: Some("expectedUpdatedAt"),
            message: "the customer was changed since expectedUpdatedAt; reload and retry",
        }
    }

    pub fn internal(source: impl Into<Source>) -> Self {
        Self::Internal(source.into())
    }

    /// The `extensions.code` that clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict { .. } => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message clients read: it never includes an internal cause.
    pub fn message(&self) -> String {
        match self {
            Self::BadInput { field, message } => format!("{field}: {message}"),
            Self::Unauthenticated(message) => (*message).to_owned(),
            Self::Forbidden => "this token may not do this".to_owned(),
            Self::NotFound => "no customer has this id".to_owned(),
            Self::Conflict { message, .. } => (*message).to_owned(),
            Self::RateLimited { retry_after_secs } => {
                format!("too many failed logins; try again in {retry_after_secs} seconds")
            }
            Self::Unavailable(_) => {
                "the service is temporarily unavailable; try again later".to_owned()
            }
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    /// Logs the hidden cause of a server-side failure; client errors are not logged here.
    fn log_source(&self) {
        match self {
            Self::Unavailable(source) => {
                tracing::warn!(error = %ErrorChain(&**source), "database unavailable")
            }
            Self::Internal(source) => {
                tracing::error!(error = %ErrorChain(&**source), "internal error")
            }
            _ => {}
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        error.log_source();
        let mut graphql = async_graphql::Error::new(error.message());
        let ext = graphql.extensions.get_or_insert_with(Default::default);
        ext.set("code", error.code());
        match &error {
            AppError::BadInput { field, .. } => ext.set("field", field.as_str()),
            AppError::Conflict {
                field: Some(field), ..
            } => ext.set("field", *field),
            AppError::RateLimited { retry_after_secs } => ext.set("retryAfter", *retry_after_secs),
            _ => {}
        }
        graphql
    }
}

/// Displays an error with its chain of causes, for logs.
struct ErrorChain<'a>(&'a (dyn StdError + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(error: AppError) -> serde_json::Value {
        let error: async_graphql::Error = error.into();
        serde_json::to_value(error.extensions).unwrap()
    }

    #[test]
    fn each_error_maps_to_its_contract_code() {
        let io = || std::io::Error::other("connection refused to 10.0.0.1:5432");
        let cases = [
            (
                AppError::bad_input("name", "must not be empty"),
                "BAD_USER_INPUT",
            ),
            (
                AppError::Unauthenticated(unauthenticated::INVALID_TOKEN),
                "UNAUTHENTICATED",
            ),
            (AppError::Forbidden, "FORBIDDEN"),
            (AppError::NotFound, "NOT_FOUND"),
            (AppError::email_taken(), "CONFLICT"),
            (
                AppError::RateLimited {
                    retry_after_secs: 3,
                },
                "RATE_LIMITED",
            ),
            (AppError::Unavailable(io().into()), "SERVICE_UNAVAILABLE"),
            (AppError::internal(io()), "INTERNAL_SERVER_ERROR"),
        ];
        for (error, code) in cases {
            assert_eq!(extensions(error)["code"], code);
        }
    }

    #[test]
    fn field_and_retry_after_travel_in_extensions() {
        let ext = extensions(AppError::bad_input("address.country", "bad"));
        assert_eq!(ext["field"], "address.country");
        let ext = extensions(AppError::RateLimited {
            retry_after_secs: 42,
        });
        assert_eq!(ext["retryAfter"], 42);
    }

    #[test]
    fn internal_causes_stay_out_of_the_message() {
        let error: async_graphql::Error =
            AppError::internal(std::io::Error::other("SELECT * FROM customers")).into();
        assert_eq!(error.message, "internal error");
    }
}
