//! Parsed input values. A request's raw strings become these types before any service or
//! database call, so every limit of the contract is checked exactly once, up front, and the
//! rest of the code cannot forget to.

mod address;
mod client_network;
mod email;
mod id;
mod idempotency_key;
mod name;
mod password;
mod phone;
mod secret_token;

pub use address::{Address, AddressParts};
pub use client_network::ClientNetwork;
pub use email::Email;
pub use id::{CustomerId, SessionId};
pub use idempotency_key::IdempotencyKey;
pub use name::Name;
pub use password::Password;
pub use phone::Phone;
pub use secret_token::{SecretToken, TokenHash};

/// Trims `raw` and refuses text longer than `max_chars` Unicode scalar values or holding
/// control characters (NUL among them, which PostgreSQL cannot store); the shared rule of
/// every free-text input.
pub fn plain_text(raw: &str, max_chars: usize) -> Result<&str, String> {
    let text = raw.trim();
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(text)
}
