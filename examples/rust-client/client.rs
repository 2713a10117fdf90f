//! A typed customer-api client: the operations in `operations.graphql`, checked against
//! `schema.graphql` at compile time by `graphql_client`, sent with awc. A query that names a
//! field the schema does not have, or a variable of the wrong type, does not compile.

use graphql_client::{GraphQLQuery, Response};

/// The schema's custom scalar: RFC 3339 text.
type DateTime = String;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "schema.graphql",
    query_path = "examples/rust-client/operations.graphql",
    response_derives = "Debug"
)]
pub struct SignUp;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "schema.graphql",
    query_path = "examples/rust-client/operations.graphql",
    response_derives = "Debug"
)]
pub struct LogIn;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "schema.graphql",
    query_path = "examples/rust-client/operations.graphql",
    response_derives = "Debug"
)]
pub struct Me;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "schema.graphql",
    query_path = "examples/rust-client/operations.graphql",
    response_derives = "Debug"
)]
pub struct UpdatePhone;

/// What went wrong: the request, or the errors the server answered with (each with its
/// `extensions.code`).
#[derive(Debug)]
pub enum ClientError {
    Http(String),
    GraphQl(Vec<(Option<String>, String)>),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(message) => write!(f, "HTTP: {message}"),
            Self::GraphQl(errors) => {
                for (code, message) in errors {
                    write!(f, "[{}] {message} ", code.as_deref().unwrap_or("?"))?;
                }
                Ok(())
            }
        }
    }
}

pub struct CustomerApi {
    http: awc::Client,
    url: String,
    token: Option<String>,
}

impl CustomerApi {
    /// A client of the server at `base` (e.g. http://127.0.0.1:8080).
    pub fn new(base: &str) -> Self {
        Self {
            http: awc::Client::default(),
            url: format!("{}/graphql", base.trim_end_matches('/')),
            token: None,
        }
    }

    /// Runs one operation, with the token of the last login if any.
    pub async fn run<Q: GraphQLQuery>(
        &self, variables: Q::Variables,
    ) -> Result<Q::ResponseData, ClientError> {
        let mut request = self.http.post(&self.url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send_json(&Q::build_query(variables))
            .await
            .map_err(|error| ClientError::Http(error.to_string()))?;
        let body: Response<Q::ResponseData> = response
            .json()
            .limit(1 << 20)
            .await
            .map_err(|error| ClientError::Http(error.to_string()))?;
        match (body.data, body.errors) {
            (Some(data), None) => Ok(data),
            (_, errors) => Err(ClientError::GraphQl(
                errors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|error| {
                        let code = error.extensions.and_then(|extensions| {
                            extensions.get("code")?.as_str().map(str::to_owned)
                        });
                        (code, error.message)
                    })
                    .collect(),
            )),
        }
    }

    /// Creates a customer (a sign-up: no token); returns its UUID.
    pub async fn sign_up(
        &self, name: &str, email: &str, password: &str,
    ) -> Result<String, ClientError> {
        let input = sign_up::CreateCustomerInput {
            name: name.to_owned(),
            email: email.to_owned(),
            password: Some(password.to_owned()),
            phone: None,
            address: None,
        };
        let data = self.run::<SignUp>(sign_up::Variables { input }).await?;
        Ok(data.create_customer.customer.customer_id)
    }

    /// Logs in; later operations carry the access token.
    pub async fn log_in(&mut self, email: &str, password: &str) -> Result<(), ClientError> {
        let variables = log_in::Variables {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let session = self.run::<LogIn>(variables).await?.authenticate_customer;
        self.token = Some(session.token);
        Ok(())
    }

    pub async fn me(&self) -> Result<Option<me::MeMe>, ClientError> {
        Ok(self.run::<Me>(me::Variables).await?.me)
    }

    /// Sets the phone, unless the customer changed since `expected_updated_at` (CONFLICT).
    pub async fn update_phone(
        &self, customer_id: &str, phone: &str, expected_updated_at: Option<String>,
    ) -> Result<update_phone::UpdatePhoneUpdateCustomerCustomer, ClientError> {
        let variables = update_phone::Variables {
            customer_id: customer_id.to_owned(),
            phone: phone.to_owned(),
            expected_updated_at,
        };
        Ok(self
            .run::<UpdatePhone>(variables)
            .await?
            .update_customer
            .customer)
    }
}
