//! Password reset and email verification, by single-use links in mail. A request for a reset
//! answers the same whether or not the address is known: the lookup and the mail happen in
//! the background, after the answer, and the request is throttled like a login.

use std::sync::Arc;

use super::{chrono_duration, now, run_on_store, sessions::IssuedSession, CustomerService};
use crate::{
    auth::{Caller, Principal},
    db::{AccountToken, Action, CustomerRecord, PasswordReset, Purpose},
    domain::{ClientNetwork, Email, Password, SecretToken},
    error::AppError,
    mail::Mail,
};

/// The pages of the client app that the mailed links open; `{token}` is replaced by the
/// token, which the page sends back with `resetPassword` or `verifyEmail`.
#[derive(Debug, Clone)]
pub struct AccountLinks {
    pub password_reset: String,
    pub email_verification: String,
}

impl AccountLinks {
    fn link(template: &str, token: &SecretToken) -> String {
        template.replace("{token}", token.expose())
    }
}

fn invalid_token() -> AppError {
    AppError::bad_input("token", "is invalid, spent or expired")
}

impl CustomerService {
    /// `requestPasswordReset`: mails a reset link if the address belongs to a customer.
    pub async fn request_password_reset(
        &self, email: Email, client: Option<ClientNetwork>,
    ) -> Result<(), AppError> {
        self.admit(Action::PasswordReset, email.key(), client)
            .await?;
        let job = self.mail_job(move |store, plan| {
            let customer = store.find_customer_by_email(email.as_str())?;
            Ok(customer.map(|customer| plan.account_mail(&customer, Purpose::PasswordReset)))
        });
        self.spawn_job("password reset mail", job);
        Ok(())
    }

    /// `resetPassword`: spends the token, sets the password, ends every session, and starts a
    /// new one.
    pub async fn reset_password(
        &self, token: SecretToken, password: Password, user_agent: Option<String>,
    ) -> Result<IssuedSession, AppError> {
        let (token_hash, at) = (token.hash(), now());
        // A cheap look first, so that a made-up token costs no bcrypt.
        let customer = self
            .with_store(move |store| {
                store.account_token_customer(&token_hash, Purpose::PasswordReset, at)
            })
            .await?
            .ok_or_else(invalid_token)?;
        let password_hash = self.hasher.hash(&password).await?;
        let (session, refresh) = self.new_session(customer, user_agent);
        let reset = PasswordReset {
            token_hash,
            password_hash,
            session: session.clone(),
            refresh_hash: refresh.hash(),
        };
        self.with_store(move |store| store.reset_password(&reset))
            .await?
            .ok_or_else(invalid_token)?;
        tracing::info!(customer_id = %customer, "password reset; every other session ended");
        self.issue(session, refresh)
    }

    /// `requestEmailVerification`: mails a verification link to the bearer's own address,
    /// unless it is verified already.
    pub async fn request_email_verification(
        &self, caller: &Caller, client: Option<ClientNetwork>,
    ) -> Result<(), AppError> {
        let Principal::Customer { id, session } = self.principal(caller).await? else {
            return Err(AppError::Forbidden);
        };
        let customer = self.current_customer(id, session).await?;
        let key = customer.email.to_lowercase();
        self.admit(Action::EmailVerification, key, client).await?;
        if !customer.email_verified {
            self.send_verification(customer);
        }
        Ok(())
    }

    /// `verifyEmail`: spends the token and marks the address it was sent to verified, if it
    /// is still the customer's.
    pub async fn verify_email(&self, token: SecretToken) -> Result<(), AppError> {
        let (hash, at) = (token.hash(), now());
        let verified = self
            .with_store(move |store| {
                let Some(token) =
                    store.take_account_token(&hash, Purpose::EmailVerification, at)?
                else {
                    return Ok(None);
                };
                let email = token.email.unwrap_or_default();
                let verified = store.verify_email(token.customer_id, &email, at)?;
                Ok(verified.then_some(token.customer_id))
            })
            .await?
            .ok_or_else(invalid_token)?;
        tracing::info!(customer_id = %verified, "email verified");
        Ok(())
    }

    /// Mails `customer` a link that verifies their current address, in the background.
    pub(super) fn send_verification(&self, customer: CustomerRecord) {
        let job = self.mail_job(move |_, plan| {
            Ok(Some(
                plan.account_mail(&customer, Purpose::EmailVerification),
            ))
        });
        self.spawn_job("verification mail", job);
    }

    /// A job that, on a blocking thread, decides what to mail (and stores the token in it),
    /// then sends it.
    fn mail_job(
        &self,
        prepare: impl FnOnce(&dyn crate::db::Store, &MailPlan) -> Result<Option<PlannedMail>, AppError>
            + Send
            + 'static,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (store, queued) = (Arc::clone(&self.store), Arc::clone(&self.queued));
        let mailer = Arc::clone(&self.mailer);
        let metrics = Arc::clone(&self.metrics);
        let plan = MailPlan {
            links: self.policy.links.clone(),
            reset_ttl: chrono_duration(self.policy.lifetimes.password_reset),
            verification_ttl: chrono_duration(self.policy.lifetimes.email_verification),
        };
        async move {
            let planned = run_on_store(&store, &queued, move |store| {
                let Some(planned) = prepare(store, &plan)? else {
                    return Ok(None);
                };
                store.insert_account_token(&planned.token_hash, &planned.token)?;
                Ok(Some(planned))
            })
            .await;
            match planned {
                Ok(Some(planned)) => {
                    let customer = planned.token.customer_id;
                    let sent = mailer.send(planned.mail).await;
                    metrics.mail(sent);
                    if sent {
                        tracing::info!(customer_id = %customer, purpose = planned.token.purpose.as_str(), "mail sent");
                    }
                }
                Ok(None) => {}
                Err(error) => error.log(),
            }
        }
    }
}

/// What a mail job needs of the service's settings.
struct MailPlan {
    links: AccountLinks,
    reset_ttl: chrono::Duration,
    verification_ttl: chrono::Duration,
}

/// A mail to send, with the token it carries (stored before it is sent).
struct PlannedMail {
    token_hash: crate::domain::TokenHash,
    token: AccountToken,
    mail: Mail,
}

impl MailPlan {
    fn account_mail(&self, customer: &CustomerRecord, purpose: Purpose) -> PlannedMail {
        let secret = SecretToken::generate();
        let at = now();
        let (ttl, template, subject) = match purpose {
            Purpose::PasswordReset => (
                self.reset_ttl,
                &self.links.password_reset,
                "Reset your password",
            ),
            Purpose::EmailVerification => (
                self.verification_ttl,
                &self.links.email_verification,
                "Confirm your email address",
            ),
        };
        let link = AccountLinks::link(template, &secret);
        let minutes = ttl.num_minutes();
        let body = match purpose {
            Purpose::PasswordReset => format!(
                "Someone asked to reset the password of the customer account of {email}.\n\n\
                 To choose a new password, open this link within {minutes} minutes:\n\n\
                 {link}\n\nIf it was not you, ignore this mail: your password stays as it is.\n",
                email = customer.email
            ),
            Purpose::EmailVerification => format!(
                "Please confirm that {email} is your address: open this link within \
                 {hours} hours:\n\n{link}\n\nIf you did not ask for this, ignore this mail.\n",
                email = customer.email,
                hours = minutes / 60
            ),
        };
        PlannedMail {
            token_hash: secret.hash(),
            token: AccountToken {
                customer_id: customer.id,
                purpose,
                email: (purpose == Purpose::EmailVerification).then(|| customer.email.clone()),
                expires_at: at + ttl,
            },
            mail: Mail {
                to: customer.email.clone(),
                subject: subject.to_owned(),
                body,
            },
        }
    }
}
