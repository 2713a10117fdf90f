//! The GraphQL documents the tests send.

pub const CREATE: &str = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { \
    success customerId customer { customerId name email phone address { line1 line2 city region postalCode country } createdAt updatedAt } } }";
pub const UPDATE: &str = "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { \
    success updatedAt customer { customerId name email phone address { line1 line2 city region postalCode country } createdAt updatedAt } } }";
pub const DELETE: &str =
    "mutation($id: ID!) { deleteCustomer(customerId: $id) { success customerId } }";
pub const LOGIN: &str = "mutation($email: String!, $password: String!) { \
    authenticateCustomer(email: $email, password: $password) { \
    token customerId expiresAt refreshToken refreshExpiresAt \
    session { sessionId createdAt lastUsedAt expiresAt userAgent current } } }";
pub const GET: &str = "query($id: ID!) { customer(customerId: $id) { customerId name email phone \
    address { line1 line2 city region postalCode country } createdAt updatedAt } }";
pub const ME: &str = "{ me { customerId name email } }";

/// F0 spreads F1 twice, F1 spreads F2 twice, …, `levels` deep, the last one selecting `leaf`:
/// 2^levels leaves in a few KB.
pub fn fragment_bomb(levels: usize, leaf: &str) -> String {
    let mut query = String::from("query { ...F0 }");
    for level in 0..levels {
        query.push_str(&format!(
            " fragment F{level} on Query {{ ...F{next} ...F{next} }}",
            next = level + 1
        ));
    }
    query.push_str(&format!(" fragment F{levels} on Query {{ {leaf} }}"));
    query
}
