use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::digest;
use secrecy::{ExposeSecret, SecretString};

/// An opaque random token handed to a client: a refresh token, or the token in a
/// password-reset or verification link. 32 random bytes, base64url; only its SHA-256
/// ([`TokenHash`]) is ever stored, and it is never printed.
#[derive(Debug, Clone)]
pub struct SecretToken(SecretString);

/// The SHA-256 of a [`SecretToken`]: what the database keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl SecretToken {
    const BYTES: usize = 32;
    /// The length of the base64url text of 32 bytes, unpadded.
    const CHARS: usize = 43;

    pub fn generate() -> Self {
        let mut random = [0u8; Self::BYTES];
        getrandom::fill(&mut random).expect("the system has randomness");
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(random)))
    }

    /// A token as a client sent it back; anything that cannot be one of ours is refused
    /// before the database sees it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = raw.len() == Self::CHARS
            && URL_SAFE_NO_PAD
                .decode(raw)
                .is_ok_and(|bytes| bytes.len() == Self::BYTES);
        if !valid {
            return Err("is not a token this server issued".to_owned());
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> TokenHash {
        let digest = digest::digest(&digest::SHA256, self.expose().as_bytes());
        TokenHash(digest.as_ref().try_into().expect("SHA-256 has 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_hash_alike() {
        let token = SecretToken::generate();
        let again = SecretToken::parse(token.expose()).unwrap();
        assert_eq!(token.hash(), again.hash());
        assert_ne!(token.hash(), SecretToken::generate().hash());
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn anything_else_is_refused() {
        let token = SecretToken::generate();
        for bad in [
            "",
            "short",
            &token.expose()[1..],
            &format!("{}=", token.expose()),
            &"\u{0}".repeat(43),
        ] {
            assert!(SecretToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
