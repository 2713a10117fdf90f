//! Who is calling: password hashing, session tokens, and the caller of a request.

mod caller;
mod password;
mod token;

pub use caller::{Caller, Principal};
pub use password::{PasswordHash, PasswordHasher};
pub use token::{Claims, IssuedToken, Role, TokenKeys};
