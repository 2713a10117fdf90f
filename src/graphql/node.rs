//! Object identification: the `Node` interface and global ids, which Relay refetches by and
//! Apollo's and urql's normalised caches merge on (they key objects on `id` by default).
//!
//! A global id is `Customer:<uuid>` in unpadded base64url: opaque to clients, the same string
//! in every answer that carries the object, and decoded without a database lookup.

use async_graphql::{Interface, ID};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

use super::outputs::Customer;
use crate::domain::CustomerId;

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "A global id, opaque: the same string wherever this object appears, for client \
            caches and `node`."
))]
pub enum Node {
    Customer(Customer),
}

const CUSTOMER: &str = "Customer";

/// The global id of a customer.
pub fn customer_global_id(id: CustomerId) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{CUSTOMER}:{id}")))
}

/// The object a global id names; `Err` with the reason when it is not a global id this
/// server issues.
pub fn parse_global_id(id: &str) -> Result<CustomerId, String> {
    let not_ours = || "must be a global id, as in `id` fields".to_owned();
    let decoded = URL_SAFE_NO_PAD.decode(id.trim()).map_err(|_| not_ours())?;
    let text = String::from_utf8(decoded).map_err(|_| not_ours())?;
    match text.split_once(':') {
        Some((CUSTOMER, uuid)) => CustomerId::parse(uuid).map_err(|_| not_ours()),
        _ => Err(not_ours()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_nothing_else_parses() {
        let id = CustomerId::generate();
        let global = customer_global_id(id);
        assert!(!global.contains(&id.to_string()), "opaque: {}", global.0);
        assert_eq!(parse_global_id(&global), Ok(id));
        let uuid = id.to_string();
        let other_type = URL_SAFE_NO_PAD.encode(format!("Session:{uuid}"));
        for bad in [
            uuid.as_str(),
            "",
            "%%%",
            &other_type,
            &URL_SAFE_NO_PAD.encode("Customer:x"),
        ] {
            assert!(parse_global_id(bad).is_err(), "{bad}");
        }
    }
}
