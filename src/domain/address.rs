use serde::{Deserialize, Serialize};

use super::plain_text;

/// The raw parts of an address as a client sent them.
#[derive(Debug, Default)]
pub struct AddressParts {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// A postal address: each part trimmed, at most 200 characters, blank parts absent;
/// `country` an assigned ISO 3166-1 alpha-2 code, upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

impl Address {
    pub const MAX_CHARS: usize = 200;

    /// Parses the parts; `None` when every part is blank. An error names the failing part.
    pub fn parse(parts: AddressParts) -> Result<Option<Self>, (&'static str, String)> {
        let part = |name: &'static str, raw: Option<String>| -> Result<_, (&'static str, String)> {
            match raw {
                None => Ok(None),
                Some(raw) => {
                    let text = plain_text(&raw, Self::MAX_CHARS).map_err(|e| (name, e))?;
                    Ok((!text.is_empty()).then(|| text.to_owned()))
                }
            }
        };
        let country = part("country", parts.country)?
            .map(|code| country_code(&code).ok_or(("country", COUNTRY_RULE.to_owned())))
            .transpose()?;
        let address = Self {
            line1: part("line1", parts.line1)?,
            line2: part("line2", parts.line2)?,
            city: part("city", parts.city)?,
            region: part("region", parts.region)?,
            postal_code: part("postalCode", parts.postal_code)?,
            country,
        };
        Ok((address != Self::EMPTY).then_some(address))
    }

    const EMPTY: Self = Self {
        line1: None,
        line2: None,
        city: None,
        region: None,
        postal_code: None,
        country: None,
    };

    pub fn line1(&self) -> Option<&str> {
        self.line1.as_deref()
    }
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }
    pub fn city(&self) -> Option<&str> {
        self.city.as_deref()
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn postal_code(&self) -> Option<&str> {
        self.postal_code.as_deref()
    }
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }
}

const COUNTRY_RULE: &str = "must be an assigned ISO 3166-1 alpha-2 country code";

/// The upper-case code when `raw` is an assigned ISO 3166-1 alpha-2 code.
fn country_code(raw: &str) -> Option<String> {
    if raw.len() != 2 || !raw.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let code = raw.to_ascii_uppercase();
    celes::Country::from_alpha2(&code).ok().map(|_| code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_country(country: &str) -> AddressParts {
        AddressParts {
            country: Some(country.to_owned()),
            ..AddressParts::default()
        }
    }

    #[test]
    fn country_is_an_assigned_code_stored_upper_case() {
        let address = Address::parse(with_country("us")).unwrap().unwrap();
        assert_eq!(address.country(), Some("US"));
        for bad in ["XX", "USA", "U", "1A", "ÜS"] {
            assert_eq!(Address::parse(with_country(bad)).unwrap_err().0, "country");
        }
    }

    #[test]
    fn blank_parts_are_absent_and_an_all_blank_address_is_none() {
        let parts = AddressParts {
            city: Some("  ".to_owned()),
            ..AddressParts::default()
        };
        assert_eq!(Address::parse(parts).unwrap(), None);
    }

    #[test]
    fn each_part_is_limited_in_characters() {
        let parts = AddressParts {
            postal_code: Some("é".repeat(201)),
            ..AddressParts::default()
        };
        assert_eq!(Address::parse(parts).unwrap_err().0, "postalCode");
    }
}
