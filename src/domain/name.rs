use super::plain_text;

/// A customer's display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = plain_text(raw, Self::MAX_CHARS)?;
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert!(Name::parse(&"😀".repeat(200)).is_ok());
        assert!(Name::parse(&"😀".repeat(201)).is_err());
    }

    #[test]
    fn trims_and_refuses_blank_and_control_characters() {
        assert_eq!(Name::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse("Ada\u{0}").is_err());
        assert!(Name::parse("A\nB").is_err());
    }
}
