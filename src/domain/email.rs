use email_address::{EmailAddress, Options};

/// A syntactically valid email address, trimmed, at most 254 characters, stored as given.
/// Uniqueness and login compare it case-insensitively (see [`Email::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        // A bare address with a dotted domain: no display name, no IP-literal domain.
        let options = Options::default()
            .with_required_tld()
            .without_display_text()
            .without_domain_literal();
        EmailAddress::parse_with_options(text, options)
            .map_err(|_| "must be a valid email address".to_owned())?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the address, as the login throttle counts it.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_keeps_case() {
        assert_eq!(
            Email::parse(" Ada@Example.io ").unwrap().as_str(),
            "Ada@Example.io"
        );
        assert_eq!(
            Email::parse("Ada@Example.io").unwrap().key(),
            "ada@example.io"
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.io",
            "ada@localhost",
            "Ada <ada@x.io>",
            "a b@x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
