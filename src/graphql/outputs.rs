//! Output types: what clients read.

use async_graphql::{ComplexObject, Context, Object, Result, SimpleObject, ID};

use super::{caller, node, scalars::DateTime, service};
use crate::{
    auth::Caller,
    db::{CustomerRecord, SessionRecord},
    domain::{self, CustomerId, SessionId},
    service::{IssuedSession, Page},
};

/// A customer record.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Customer {
    #[graphql(skip)]
    key: CustomerId,
    /// The customer's id: a UUID (v7, time-ordered), as text.
    customer_id: ID,
    /// Display name.
    name: String,
    /// Email address, as the customer gave it; unique case-insensitively.
    email: String,
    /// Phone number, if any.
    phone: Option<String>,
    /// Postal address, if any.
    address: Option<Address>,
    /// Whether the customer proved that `email` is theirs (by the link in a verification
    /// mail). A new address is unverified again.
    email_verified: bool,
    /// When the customer was created.
    created_at: DateTime,
    /// When the customer was last changed; pass it as `expectedUpdatedAt` to update safely.
    updated_at: DateTime,
}

#[ComplexObject]
impl Customer {
    /// A global id, opaque: the same string wherever this customer appears, for client
    /// caches and `node`. `customerId` is the customer's UUID.
    pub async fn id(&self) -> ID {
        node::customer_global_id(self.key)
    }

    /// The customer's sessions (logins that have not ended or expired), newest first. The
    /// customer and admins may see them.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let caller = caller(ctx);
        let sessions = service(ctx).sessions(caller, self.key).await?;
        let current = match caller {
            Caller::Customer { session, .. } => Some(*session),
            _ => None,
        };
        Ok(sessions
            .into_iter()
            .map(|session| Session::of(session, current))
            .collect())
    }
}

impl From<CustomerRecord> for Customer {
    fn from(record: CustomerRecord) -> Self {
        Self {
            key: record.id,
            customer_id: ID(record.id.to_string()),
            name: record.name,
            email: record.email,
            phone: record.phone,
            address: record.address.as_ref().map(Address::from),
            email_verified: record.email_verified,
            created_at: record.created_at.into(),
            updated_at: record.updated_at.into(),
        }
    }
}

/// A postal address. Absent parts are null.
#[derive(SimpleObject, Clone)]
pub struct Address {
    /// First address line.
    line1: Option<String>,
    /// Second address line.
    line2: Option<String>,
    /// City or locality.
    city: Option<String>,
    /// State, province or region.
    region: Option<String>,
    /// Postal or ZIP code.
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, upper-case.
    country: Option<String>,
}

impl From<&domain::Address> for Address {
    fn from(address: &domain::Address) -> Self {
        let owned = |part: Option<&str>| part.map(str::to_owned);
        Self {
            line1: owned(address.line1()),
            line2: owned(address.line2()),
            city: owned(address.city()),
            region: owned(address.region()),
            postal_code: owned(address.postal_code()),
            country: owned(address.country()),
        }
    }
}

/// The result of `createCustomer`.
#[derive(SimpleObject)]
pub struct CreateCustomerPayload {
    /// Always true; a failure is a GraphQL error instead.
    success: bool,
    /// The new customer's id.
    customer_id: ID,
    /// The new customer.
    customer: Customer,
}

impl From<CustomerRecord> for CreateCustomerPayload {
    fn from(record: CustomerRecord) -> Self {
        Self {
            success: true,
            customer_id: ID(record.id.to_string()),
            customer: record.into(),
        }
    }
}

/// The result of `updateCustomer`.
#[derive(SimpleObject)]
pub struct UpdateCustomerPayload {
    /// Always true; a failure is a GraphQL error instead.
    success: bool,
    /// The customer's `updatedAt` after the update (unchanged when nothing changed).
    updated_at: DateTime,
    /// The customer as it is now.
    customer: Customer,
}

impl From<CustomerRecord> for UpdateCustomerPayload {
    fn from(record: CustomerRecord) -> Self {
        Self {
            success: true,
            updated_at: record.updated_at.into(),
            customer: record.into(),
        }
    }
}

/// The result of `deleteCustomer`.
#[derive(SimpleObject)]
pub struct DeleteCustomerPayload {
    /// Always true; a failure is a GraphQL error instead.
    pub success: bool,
    /// The id of the deleted customer.
    pub customer_id: ID,
}

/// A session's tokens: `authenticateCustomer`, `refreshSession` and `resetPassword` answer
/// with them.
#[derive(SimpleObject)]
pub struct AuthenticateCustomerPayload {
    /// The access token, a signed JWT; send it as `Authorization: Bearer <token>`. Short-lived:
    /// renew it with `refreshSession` before `expiresAt`.
    token: String,
    /// The id of the customer the token belongs to.
    customer_id: ID,
    /// When the access token expires (its `exp` claim).
    expires_at: DateTime,
    /// The refresh token: opaque, single use. Keep it safe; `refreshSession` exchanges it for
    /// new tokens. Presenting it a second time ends the session.
    refresh_token: String,
    /// When the refresh token expires, unless the session is refreshed before.
    refresh_expires_at: DateTime,
    /// The session the tokens belong to.
    session: Session,
}

impl From<IssuedSession> for AuthenticateCustomerPayload {
    fn from(issued: IssuedSession) -> Self {
        Self {
            token: issued.access_token,
            customer_id: ID(issued.session.customer_id.to_string()),
            expires_at: issued.access_expires_at.into(),
            refresh_token: issued.refresh_token.expose().to_owned(),
            refresh_expires_at: issued.session.expires_at.into(),
            session: Session::of(issued.session.clone(), Some(issued.session.id)),
        }
    }
}

/// A login that a client keeps, with its refresh token.
#[derive(SimpleObject)]
pub struct Session {
    /// The session's id; `revokeSession` ends it.
    session_id: ID,
    /// When the customer logged in.
    created_at: DateTime,
    /// When the session last logged in or refreshed.
    last_used_at: DateTime,
    /// When its refresh token expires, unless it is refreshed before.
    expires_at: DateTime,
    /// The `User-Agent` of the client that logged in, if it sent one.
    user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    current: bool,
}

impl Session {
    fn of(record: SessionRecord, current: Option<SessionId>) -> Self {
        Self {
            session_id: ID(record.id.to_string()),
            created_at: record.created_at.into(),
            last_used_at: record.last_used_at.into(),
            expires_at: record.expires_at.into(),
            user_agent: record.user_agent,
            current: current == Some(record.id),
        }
    }
}

/// The result of `logout`, `logoutEverywhere` and `revokeSession`.
#[derive(SimpleObject)]
pub struct EndSessionsPayload {
    /// Always true; a failure is a GraphQL error instead.
    pub success: bool,
    /// How many sessions ended.
    pub sessions_ended: i32,
}

/// The result of a request that is carried out in the background (mail).
#[derive(SimpleObject)]
pub struct RequestPayload {
    /// Always true; a failure is a GraphQL error instead.
    pub success: bool,
}

/// A page of customers (Relay cursor connection), newest first.
pub struct CustomerConnection {
    edges: Vec<CustomerEdge>,
    page_info: PageInfo,
    total_count: Option<i64>,
}

impl From<Page> for CustomerConnection {
    fn from(page: Page) -> Self {
        let edges: Vec<CustomerEdge> = page
            .customers
            .into_iter()
            .map(|(customer, cursor)| CustomerEdge {
                cursor,
                node: customer.into(),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: edges.first().map(|edge| edge.cursor.clone()),
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        };
        Self {
            edges,
            page_info,
            total_count: page.total_count,
        }
    }
}

/// A page of customers (Relay cursor connection), newest first.
#[Object]
impl CustomerConnection {
    /// The customers of this page, each with its cursor.
    async fn edges(&self) -> &[CustomerEdge] {
        &self.edges
    }

    /// The customers of this page, without cursors.
    async fn nodes(&self) -> Vec<Customer> {
        self.edges.iter().map(|edge| edge.node.clone()).collect()
    }

    /// Where this page stands in the whole listing.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many customers match the filter, on all pages. Counted only when selected.
    async fn total_count(&self) -> i64 {
        self.total_count.unwrap_or_default()
    }
}

/// A customer and its cursor.
#[derive(SimpleObject)]
pub struct CustomerEdge {
    /// Pass as `after` to continue after this customer.
    cursor: String,
    /// The customer.
    node: Customer,
}

/// Relay page information.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more customers follow this page.
    has_next_page: bool,
    /// Whether customers come before this page (true when `after` was given).
    has_previous_page: bool,
    /// The cursor of the first customer of this page.
    start_cursor: Option<String>,
    /// The cursor of the last customer of this page; pass it as `after` for the next page.
    end_cursor: Option<String>,
}
