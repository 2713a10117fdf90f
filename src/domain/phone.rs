/// A phone number as people write it: 3 to 32 characters of digits, spaces and `+ - . ( )`,
/// with at least 3 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 32;
    const MIN_DIGITS: usize = 3;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let length = text.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&length) {
            return Err(format!(
                "must be {} to {} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            ));
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
        {
            return Err("may contain only digits, spaces and + - . ( )".to_owned());
        }
        if text.chars().filter(char::is_ascii_digit).count() < Self::MIN_DIGITS {
            return Err(format!("must contain at least {} digits", Self::MIN_DIGITS));
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
    fn applies_length_charset_and_digit_rules() {
        assert!(Phone::parse("+1 (555) 010-0000").is_ok());
        assert!(Phone::parse("123").is_ok());
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("1-2").is_err());
        assert!(Phone::parse(&"1".repeat(32)).is_ok());
        assert!(Phone::parse(&"1".repeat(33)).is_err());
        assert!(Phone::parse("555-CALL-NOW").is_err());
        assert!(Phone::parse("١٢٣٤").is_err());
    }
}
