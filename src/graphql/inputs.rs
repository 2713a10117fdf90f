//! Input types, and their parsing into domain values. Every rule is checked here, before the
//! service (and so the database) sees the request; a failure names the input field.

use async_graphql::{InputObject, MaybeUndefined, ID};

use super::scalars::DateTime;
use crate::{
    db,
    domain::{
        plain_text, Address, AddressParts, CustomerId, Email, IdempotencyKey, Name, Password,
        Phone, SecretToken, SessionId,
    },
    error::{unauthenticated, AppError},
    service::{CustomerChanges, NewCustomer, PageRequest},
};

/// Attaches the input field's name to a parse failure.
fn field<T>(name: &str, parsed: Result<T, String>) -> Result<T, AppError> {
    parsed.map_err(|message| AppError::bad_input(name, message))
}

pub fn customer_id(id: &ID) -> Result<CustomerId, AppError> {
    field("customerId", CustomerId::parse(id))
}

pub fn global_id(id: &ID) -> Result<CustomerId, AppError> {
    field("id", super::node::parse_global_id(id))
}

pub fn email(raw: &str) -> Result<Email, AppError> {
    field("email", Email::parse(raw))
}

pub fn password(raw: &str) -> Result<Password, AppError> {
    field("password", Password::parse(raw))
}

pub fn new_password(raw: &str) -> Result<Password, AppError> {
    field("newPassword", Password::parse(raw))
}

/// A password typed to log in: only more than bcrypt can read is refused as input.
pub fn login_password(raw: &str) -> Result<Password, AppError> {
    field("password", Password::candidate(raw))
}

pub fn session_id(id: &ID) -> Result<SessionId, AppError> {
    field("sessionId", SessionId::parse(id))
}

/// A refresh token is a credential: one that cannot be ours is the one invalid-token answer.
pub fn refresh_token(raw: &str) -> Result<SecretToken, AppError> {
    SecretToken::parse(raw).map_err(|_| AppError::Unauthenticated(unauthenticated::INVALID_TOKEN))
}

/// The token from a password-reset or verification mail.
pub fn mailed_token(raw: &str) -> Result<SecretToken, AppError> {
    field("token", SecretToken::parse(raw))
}

/// The `Idempotency-Key` header, when one was sent.
pub fn idempotency_key(raw: Option<&str>) -> Result<Option<IdempotencyKey>, AppError> {
    raw.map(|raw| field("Idempotency-Key", IdempotencyKey::parse(raw)))
        .transpose()
}

/// A postal address. Blank parts are dropped; an address with no parts is no address.
#[derive(InputObject)]
pub struct AddressInput {
    /// First address line, at most 200 characters.
    line1: Option<String>,
    /// Second address line, at most 200 characters.
    line2: Option<String>,
    /// City or locality, at most 200 characters.
    city: Option<String>,
    /// State, province or region, at most 200 characters.
    region: Option<String>,
    /// Postal or ZIP code, at most 200 characters.
    postal_code: Option<String>,
    /// An assigned ISO 3166-1 alpha-2 code, any case (`us` is stored `US`).
    country: Option<String>,
}

impl AddressInput {
    fn parse(self) -> Result<Option<Address>, AppError> {
        Address::parse(AddressParts {
            line1: self.line1,
            line2: self.line2,
            city: self.city,
            region: self.region,
            postal_code: self.postal_code,
            country: self.country,
        })
        .map_err(|(part, message)| AppError::bad_input(format!("address.{part}"), message))
    }
}

/// A new customer.
#[derive(InputObject)]
pub struct CreateCustomerInput {
    /// Display name: 1 to 200 characters, no control characters.
    name: String,
    /// Email address, at most 254 characters; unique case-insensitively.
    email: String,
    /// Phone number: 3 to 32 characters of digits, spaces and `+ - . ( )`, at least 3 digits.
    phone: Option<String>,
    /// Postal address.
    address: Option<AddressInput>,
    /// Password, 8 to 72 bytes. Required without an admin token (self sign-up).
    password: Option<String>,
}

impl CreateCustomerInput {
    pub fn parse(self) -> Result<NewCustomer, AppError> {
        Ok(NewCustomer {
            name: field("name", Name::parse(&self.name))?,
            email: email(&self.email)?,
            phone: self
                .phone
                .map(|raw| field("phone", Phone::parse(&raw)))
                .transpose()?,
            address: self.address.map(AddressInput::parse).transpose()?.flatten(),
            password: self.password.as_deref().map(password).transpose()?,
        })
    }
}

/// Changes to a customer. A field left out is unchanged; `phone: null` or `address: null`
/// clears it.
#[derive(InputObject)]
pub struct UpdateCustomerInput {
    /// The customer to update.
    customer_id: ID,
    /// New display name; may not be null.
    name: MaybeUndefined<String>,
    /// New email address; may not be null.
    email: MaybeUndefined<String>,
    /// New phone number; null clears it.
    phone: MaybeUndefined<String>,
    /// New postal address, replacing the whole stored one; null clears it.
    address: MaybeUndefined<AddressInput>,
    /// New password; every token issued to the customer before stops working.
    password: MaybeUndefined<String>,
    /// When given and not equal to the stored updatedAt: CONFLICT, and nothing changes.
    expected_updated_at: Option<DateTime>,
}

impl UpdateCustomerInput {
    pub fn parse(self) -> Result<(CustomerId, CustomerChanges), AppError> {
        let id = customer_id(&self.customer_id)?;
        let changes = CustomerChanges {
            name: required("name", self.name, Name::parse)?,
            email: required("email", self.email, Email::parse)?,
            phone: clearable("phone", self.phone, |raw| Phone::parse(&raw).map(Some))?,
            address: match self.address {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(address) => Some(address.parse()?),
            },
            password: required("password", self.password, Password::parse)?,
            expected_updated_at: self.expected_updated_at.map(|at| at.0),
        };
        Ok((id, changes))
    }
}

/// A field that may be left out but not set to null.
fn required<T>(
    name: &str, value: MaybeUndefined<String>, parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(name, "may not be null")),
        MaybeUndefined::Value(raw) => field(name, parse(&raw)).map(Some),
    }
}

/// A field that may be left out (`None`), cleared (`Some(None)`) or set.
fn clearable<T>(
    name: &str, value: MaybeUndefined<String>,
    parse: impl FnOnce(String) -> Result<Option<T>, String>,
) -> Result<Option<Option<T>>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(raw) => field(name, parse(raw)).map(Some),
    }
}

/// Which customers to list; conditions combine with AND.
#[derive(InputObject, Default)]
pub struct CustomerFilter {
    /// Case-insensitive substring of name or email (at most 200 characters).
    search: Option<String>,
    /// Exactly this email address, compared case-insensitively (at most 254 characters).
    email: Option<String>,
    /// Only customers created after this instant.
    created_after: Option<DateTime>,
    /// Only customers created before this instant.
    created_before: Option<DateTime>,
}

const MAX_SEARCH_CHARS: usize = 200;
/// Cursors this server issues are under a hundred bytes.
const MAX_CURSOR_BYTES: usize = 256;

/// The `customers` arguments, checked.
pub fn page_request(
    first: Option<i32>, after: Option<String>, filter: Option<CustomerFilter>, with_total: bool,
) -> Result<PageRequest, AppError> {
    let first = first.unwrap_or(20);
    let first = usize::try_from(first)
        .ok()
        .filter(|n| (1..=PageRequest::MAX_FIRST).contains(n))
        .ok_or_else(|| {
            AppError::bad_input("first", format!("must be 1 to {}", PageRequest::MAX_FIRST))
        })?;
    let filter = filter.unwrap_or_default();
    let text = |name: &str, raw: Option<String>, max_chars: usize| {
        raw.map(|raw| field(name, plain_text(&raw, max_chars).map(str::to_owned)))
            .transpose()
            .map(|text| text.filter(|text| !text.is_empty()))
    };
    let search = text("filter.search", filter.search, MAX_SEARCH_CHARS)?;
    let email = text("filter.email", filter.email, Email::MAX_CHARS)?;
    if after
        .as_ref()
        .is_some_and(|cursor| cursor.len() > MAX_CURSOR_BYTES)
    {
        return Err(AppError::bad_input(
            "after",
            "not a cursor this server issued",
        ));
    }
    Ok(PageRequest {
        filter: db::CustomerFilter {
            search,
            email,
            created_after: filter.created_after.map(|at| at.0),
            created_before: filter.created_before.map(|at| at.0),
        },
        first,
        after,
        with_total,
    })
}
