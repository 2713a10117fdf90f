use secrecy::{ExposeSecret, SecretString};

/// A password as typed: 8 to 72 bytes (bcrypt reads no further, so longer is refused rather
/// than silently cut), without control characters. Never trimmed, never printed.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_BYTES: usize = 8;
    pub const MAX_BYTES: usize = 72;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if !(Self::MIN_BYTES..=Self::MAX_BYTES).contains(&raw.len()) {
            return Err(format!(
                "must be {} to {} bytes long",
                Self::MIN_BYTES,
                Self::MAX_BYTES
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A password typed to log in (or to check against a stored hash): whatever the policy
    /// was when it was set, only what bcrypt cannot read is refused. A password that does not
    /// match is the one wrong-credentials answer, not an input error, so raising the minimum
    /// length one day locks no existing customer out.
    pub fn candidate(raw: &str) -> Result<Self, String> {
        if raw.len() > Self::MAX_BYTES {
            return Err(format!("must be at most {} bytes long", Self::MAX_BYTES));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bytes() {
        assert!(Password::parse(&"é".repeat(36)).is_ok()); // 72 bytes
        assert!(Password::parse(&format!("{}a", "é".repeat(36))).is_err()); // 73 bytes
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("1234\u{0}5678").is_err());
    }

    #[test]
    fn a_login_candidate_is_refused_only_past_bcrypts_limit() {
        assert!(Password::candidate("").is_ok());
        assert!(Password::candidate("short").is_ok());
        assert!(Password::candidate(&"a".repeat(72)).is_ok());
        assert!(Password::candidate(&"a".repeat(73)).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
