//! One error vocabulary for the whole server. Every failure a client can see is an
//! [`AppError`]; this module alone turns it into a GraphQL error with `extensions.code`, and
//! is the one place where the internal cause of a failure is logged (never sent).

use std::{error::Error as StdError, sync::Arc};

use async_graphql::ServerError;

type Source = Box<dyn StdError + Send + Sync>;

/// Messages of UNAUTHENTICATED errors; fixed so that they reveal nothing.
pub mod unauthenticated {
    pub const TOKEN_REQUIRED: &str = "authentication required: send Authorization: Bearer <token>";
    pub const INVALID_TOKEN: &str = "the token is invalid, expired or revoked";
    pub const BAD_CREDENTIALS: &str = "invalid email or password";
    pub const SIGNUP_DISABLED: &str = "self sign-up is disabled: an admin token is required";
}

/// The `extensions.code` of every error a client can see: the contract's closed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    ServiceUnavailable,
    InternalServerError,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    PersistedQueryNotFound,
    PersistedQueryNotInList,
}

impl ErrorCode {
    pub const ALL: [Self; 12] = [
        Self::BadUserInput,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::RateLimited,
        Self::ServiceUnavailable,
        Self::InternalServerError,
        Self::GraphqlParseFailed,
        Self::GraphqlValidationFailed,
        Self::PersistedQueryNotFound,
        Self::PersistedQueryNotInList,
    ];

    /// The code as clients read it in `extensions.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotInList => "PERSISTED_QUERY_NOT_IN_LIST",
        }
    }

    /// The code an error carries, when it was made by this module (every error raised by
    /// this server is; errors async-graphql raises itself carry none).
    pub fn of(error: &ServerError) -> Option<Self> {
        error.source::<Self>().copied()
    }

    /// An error about the request as a whole (not a field): the code travels as the error's
    /// source too, so that the request path reads it back typed.
    pub fn error(self, message: impl Into<String>) -> ServerError {
        let mut error = ServerError::new(message, None);
        self.stamp(&mut error);
        error
    }

    /// Gives `error` this code, in `extensions.code` and as its typed source.
    pub fn stamp(self, error: &mut ServerError) {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", self.as_str());
        error.source = Some(Arc::new(self));
    }
}

/// A failure as clients see it.
///
/// Deliberately not `Display`: async-graphql turns any `Display` error into a message-only
/// GraphQL error, so a stray `?` would lose the code. The only way out is the `From` below
/// (and the crate's `custom-error-conversion` feature removes async-graphql's blanket one).
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
    /// Too much work is already queued (password hashing); try again shortly.
    Overloaded {
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
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadInput { .. } => ErrorCode::BadUserInput,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::NotFound => ErrorCode::NotFound,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Overloaded { .. } | Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::InternalServerError,
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
            Self::Overloaded { retry_after_secs } => {
                format!("the server is busy; try again in {retry_after_secs} seconds")
            }
            Self::Unavailable(_) => {
                "the service is temporarily unavailable; try again later".to_owned()
            }
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    /// For operators (the command line), never for clients: the message with its cause.
    pub fn describe(&self) -> String {
        match self {
            Self::Unavailable(source) | Self::Internal(source) => {
                format!("{}: {}", self.message(), ErrorChain(&**source))
            }
            _ => self.message(),
        }
    }

    /// Logs the hidden cause of a server-side failure; client errors are not logged here.
    pub fn log(&self) {
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
        error.log();
        let code = error.code();
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", code.as_str());
        match &error {
            AppError::BadInput { field, .. } => extensions.set("field", field.as_str()),
            AppError::Conflict {
                field: Some(field), ..
            } => extensions.set("field", *field),
            AppError::RateLimited { retry_after_secs }
            | AppError::Overloaded { retry_after_secs } => {
                extensions.set("retryAfter", *retry_after_secs)
            }
            _ => {}
        }
        async_graphql::Error {
            message: error.message(),
            source: Some(Arc::new(code)),
            extensions: Some(extensions),
        }
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

    /// The contract's list, pinned: a renamed or added code must be a deliberate change here.
    #[test]
    fn the_codes_are_the_contracts() {
        let names: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(
            names,
            [
                "BAD_USER_INPUT",
                "UNAUTHENTICATED",
                "FORBIDDEN",
                "NOT_FOUND",
                "CONFLICT",
                "RATE_LIMITED",
                "SERVICE_UNAVAILABLE",
                "INTERNAL_SERVER_ERROR",
                "GRAPHQL_PARSE_FAILED",
                "GRAPHQL_VALIDATION_FAILED",
                "PERSISTED_QUERY_NOT_FOUND",
                "PERSISTED_QUERY_NOT_IN_LIST",
            ]
        );
    }

    #[test]
    fn each_error_maps_to_its_contract_code_in_extensions_and_typed() {
        let io = || std::io::Error::other("connection refused to 10.0.0.1:5432");
        let cases = [
            (
                AppError::bad_input("name", "must not be empty"),
                ErrorCode::BadUserInput,
            ),
            (
                AppError::Unauthenticated(unauthenticated::INVALID_TOKEN),
                ErrorCode::Unauthenticated,
            ),
            (AppError::Forbidden, ErrorCode::Forbidden),
            (AppError::NotFound, ErrorCode::NotFound),
            (AppError::email_taken(), ErrorCode::Conflict),
            (
                AppError::RateLimited {
                    retry_after_secs: 3,
                },
                ErrorCode::RateLimited,
            ),
            (
                AppError::Overloaded {
                    retry_after_secs: 1,
                },
                ErrorCode::ServiceUnavailable,
            ),
            (
                AppError::Unavailable(io().into()),
                ErrorCode::ServiceUnavailable,
            ),
            (AppError::internal(io()), ErrorCode::InternalServerError),
        ];
        for (error, code) in cases {
            let error: async_graphql::Error = error.into();
            assert_eq!(
                serde_json::to_value(&error.extensions).unwrap()["code"],
                code.as_str()
            );
            let server = error.into_server_error(async_graphql::Pos::default());
            assert_eq!(ErrorCode::of(&server), Some(code));
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
        let ext = extensions(AppError::Overloaded {
            retry_after_secs: 2,
        });
        assert_eq!(ext["retryAfter"], 2);
    }

    #[test]
    fn internal_causes_stay_out_of_the_message() {
        let error: async_graphql::Error =
            AppError::internal(std::io::Error::other("SELECT * FROM customers")).into();
        assert_eq!(error.message, "internal error");
        let described = AppError::internal(std::io::Error::other("disk full")).describe();
        assert_eq!(described, "internal error: disk full");
    }
}
