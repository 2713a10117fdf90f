//! The `DateTime` scalar: RFC 3339, always UTC, microsecond precision.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// RFC 3339 timestamp, always UTC, e.g. 2026-11-26T13:44:14.123456Z
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// RFC 3339 timestamp, always UTC, e.g. 2026-11-26T13:44:14.123456Z
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|at| Self(at.with_timezone(&Utc)))
            .map_err(|_| InputValueError::custom("expected an RFC 3339 timestamp"))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at)
    }
}
