//! A typed Rust client of customer-api, generated from `schema.graphql` by graphql_client:
//! signs up (or logs in, when the address is taken), reads `me` and sets the phone.
//!
//!     cargo run --example rust-client -- http://127.0.0.1:8080 ada@example.com 'a long password' '+1 555 0100'

mod client;

use client::{ClientError, CustomerApi};

#[actix_web::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, email, password, phone] = args.as_slice() else {
        return Err("usage: rust-client <server address> <email> <password> <phone>".into());
    };
    let mut api = CustomerApi::new(base);
    match api.sign_up("Example Client", email, password).await {
        Ok(id) => println!("signed up: {id}"),
        Err(ClientError::GraphQl(errors))
            if errors
                .iter()
                .any(|(code, _)| code.as_deref() == Some("CONFLICT")) =>
        {
            println!("{email} exists already; logging in");
        }
        Err(error) => return Err(format!("sign-up failed: {error}")),
    }
    api.log_in(email, password)
        .await
        .map_err(|error| format!("login failed: {error}"))?;
    let me = api
        .me()
        .await
        .map_err(|error| format!("me failed: {error}"))?
        .ok_or("no customer for this token")?;
    println!("me: {me:?}");
    let changed = api
        .update_phone(&me.customer_id, phone, Some(me.updated_at))
        .await
        .map_err(|error| format!("update failed: {error}"))?;
    println!(
        "phone now {:?}, updated at {}",
        changed.phone, changed.updated_at
    );
    Ok(())
}
