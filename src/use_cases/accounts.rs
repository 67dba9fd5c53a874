//! Account use cases shared by the HTTP handlers and the command line: registering, confirming
//! email addresses, resetting passwords, changing email, opening sessions and creating staff.
//! Each is one transaction with its audit row and its email. No HTTP here.

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::Error;
use crate::db::ids::{AccountId, SessionId};

use crate::auth::password::{PasswordHasher, Verified};
use crate::auth::throttle::{Backoff, ThrottleKeys};
use crate::auth::tokens::OpaqueToken;
use crate::configuration::AppSettings;
use crate::db::accounts::Account;
use crate::db::accounts::{NewAccountRow, TokenPurpose};
use crate::db::audit::{self, Actor};
use crate::db::{DbPool, accounts, outbox, sessions, throttles};
use crate::domain::account::{AccountName, EmailAddress, NewAccount, Role};
use crate::email::templates::Template;

pub const VERIFY_TOKEN_TTL: Duration = Duration::hours(24);
pub const RESET_TOKEN_TTL: Duration = Duration::hours(1);

const EMAIL_TAKEN: &str = "this email address already belongs to an account";

/// A link into the resident web frontend, e.g. `<frontend_url>/verify-email?token=…`.
pub fn frontend_link(app: &AppSettings, page: &str, token: Option<&OpaqueToken>) -> String {
    let base = app.frontend_url.trim_end_matches('/');
    match token {
        Some(token) => format!("{base}/{page}?token={}", token.as_str()),
        None => format!("{base}/{page}"),
    }
}

/// Creates a staff or admin account, verified (the council vouches for the address). With a
/// password hash the account can sign in at once; without one, a "choose your password" email
/// (a 24-hour reset link) is queued.
pub async fn create_staff(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    actor: &Actor,
    name: &AccountName,
    email: &EmailAddress,
    role: Role,
    password_hash: Option<&str>,
) -> Result<AccountId, Error> {
    conn.transaction(async move |conn| {
        let now = Utc::now();
        let row = NewAccountRow {
            name: name.as_str(),
            email: email.as_str(),
            email_normalized: &email.normalized(),
            password_hash,
            role: role.as_str(),
            terms_version: &app.terms_version,
            terms_accepted_at: now,
            email_verified_at: Some(now),
        };
        let id = accounts::insert_if_new(conn, &row)
            .await?
            .ok_or(Error::Conflict(EMAIL_TAKEN.into()))?;
        if password_hash.is_none() {
            let token = OpaqueToken::generate();
            accounts::insert_token(
                conn,
                &token.digest(),
                id,
                TokenPurpose::ResetPassword,
                None,
                now + VERIFY_TOKEN_TTL,
            )
            .await?;
            let welcome = Template::StaffWelcome {
                name: name.as_str().to_owned(),
                role: role.as_str().to_owned(),
                link: frontend_link(app, "reset-password", Some(&token)),
            };
            outbox::enqueue(conn, Some(id), email.as_str(), &welcome.email()).await?;
        }
        audit::record(
            conn,
            actor,
            audit::Event {
                action: "staff.created",
                ..audit::about_account("", id)
            },
        )
        .await?;
        Ok(id)
    })
    .await
}

/// The actor for something an account holder does themselves.
fn holder(account: &Account, request_id: Option<String>) -> Actor {
    Actor {
        id: Some(account.id),
        role: account.role.as_str(),
        request_id,
    }
}

/// Registers a resident, or — for an address that already has an account — tells its owner.
/// Either way the caller answers the same, so no one learns which addresses have accounts.
pub async fn register(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    request_id: Option<String>,
    new: &NewAccount,
    password_hash: &str,
) -> Result<(), Error> {
    conn.transaction(async move |conn| {
        let now = Utc::now();
        let normalized = new.email.normalized();
        let row = NewAccountRow {
            name: new.name.as_str(),
            email: new.email.as_str(),
            email_normalized: &normalized,
            password_hash: Some(password_hash),
            role: Role::Resident.as_str(),
            terms_version: &app.terms_version,
            terms_accepted_at: now,
            email_verified_at: None,
        };
        let account = match accounts::insert_if_new(conn, &row).await? {
            Some(id) => {
                let account = accounts::find(conn, id).await?;
                audit::record(
                    conn,
                    &holder(&account, request_id),
                    audit::about_account("account.created", id),
                )
                .await?;
                account
            }
            None => {
                let Some(existing) = accounts::lock_active_by_email(conn, &normalized).await?
                else {
                    // Erased since the insert met it: the address was being let go; its holder
                    // is not to be written to (a new sign-up will find it free).
                    return Ok(());
                };
                if existing.email_verified_at.is_some() {
                    let notice = Template::AlreadyRegistered {
                        name: existing.name,
                        sign_in_link: frontend_link(app, "sign-in", None),
                        reset_link: frontend_link(app, "forgot-password", None),
                    };
                    outbox::enqueue(conn, Some(existing.id), &existing.email, &notice.email())
                        .await?;
                    return Ok(());
                }
                // Contested and never verified: neither sign-up can be trusted to own the address.
                // No password survives and earlier links stop working; the mailbox is sent a link
                // to choose the password (which also verifies the address), so only the person who
                // reads it ends up with a working password.
                accounts::restart_unverified(conn, existing.id, new.name.as_str()).await?;
                let token = OpaqueToken::generate();
                let expires_at = now + VERIFY_TOKEN_TTL;
                let purpose = TokenPurpose::ResetPassword;
                accounts::insert_token(
                    conn,
                    &token.digest(),
                    existing.id,
                    purpose,
                    None,
                    expires_at,
                )
                .await?;
                let link = frontend_link(app, "reset-password", Some(&token));
                let finish = Template::FinishSignUp { link };
                outbox::enqueue(conn, Some(existing.id), &existing.email, &finish.email()).await?;
                return Ok(());
            }
        };
        let token = OpaqueToken::generate();
        accounts::insert_token(
            conn,
            &token.digest(),
            account.id,
            TokenPurpose::VerifyEmail,
            None,
            now + VERIFY_TOKEN_TTL,
        )
        .await?;
        let link = frontend_link(app, "verify-email", Some(&token));
        outbox::enqueue(
            conn,
            Some(account.id),
            &account.email,
            &Template::VerifyEmail { link }.email(),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Confirms an address from an emailed link: a new account's, or the new address of an email
/// change (which then takes effect, and the old address is told).
pub async fn confirm_email(
    conn: &mut AsyncPgConnection,
    request_id: Option<String>,
    token: &str,
) -> Result<(), Error> {
    let digest = crate::auth::tokens::digest(token);
    conn.transaction(async move |conn| {
        lock_token_holder(conn, &digest).await?;
        let purposes = [TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail];
        let spent = accounts::spend_token(conn, &digest, &purposes)
            .await?
            .ok_or(Error::InvalidToken)?;
        let account = accounts::find(conn, spent.account_id).await?;
        let actor = holder(&account, request_id);
        let Some(new_email) = spent.new_email else {
            accounts::mark_verified(conn, account.id).await?;
            audit::record(
                conn,
                &actor,
                audit::about_account("account.email_verified", account.id),
            )
            .await?;
            return Ok(());
        };
        let parsed = EmailAddress::parse(&new_email).map_err(|_| Error::InvalidToken)?;
        if !accounts::set_email(conn, account.id, parsed.as_str(), &parsed.normalized()).await? {
            return Err(Error::Conflict(EMAIL_TAKEN.into()));
        }
        // Links sent before the change (reset links to the old address, other address changes,
        // which could move the account back to a stale address) are void.
        let stale = [TokenPurpose::ResetPassword, TokenPurpose::ChangeEmail];
        accounts::void_tokens(conn, account.id, &stale).await?;
        accounts::mark_verified(conn, account.id).await?;
        let notice = Template::EmailChanged {
            name: account.name.clone(),
            new_email: mask_email(&new_email),
        };
        outbox::enqueue(conn, Some(account.id), &account.email, &notice.email()).await?;
        audit::record(
            conn,
            &actor,
            audit::about_account("account.email_changed", account.id),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Records a request for a password-reset link, durably, before it is answered. Costs the same
/// for every address; `send_requested_reset_links` does the rest.
pub async fn request_reset_link(
    conn: &mut AsyncPgConnection,
    email: &EmailAddress,
) -> Result<(), Error> {
    accounts::queue_reset_request(conn, &email.normalized()).await?;
    Ok(())
}

/// How many queued reset requests one transaction of the worker takes.
const RESET_BATCH: i64 = 20;
/// A request older than this when the worker reaches it is dropped (the person will ask again).
const RESET_REQUEST_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
/// The window of `limits.reset_links_per_address`: however many clients ask, one address gets
/// at most that many reset links in it, so no one can use the service to flood a mailbox.
const RESET_LINK_WINDOW: Duration = Duration::minutes(15);

/// Turns queued reset requests into reset emails (or into nothing, for addresses without an
/// account), a batch per transaction; returns how many were taken. Several instances can run
/// it at once: each request is taken by one.
pub async fn send_requested_reset_links(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    per_address: u32,
) -> Result<usize, Error> {
    conn.transaction(async move |conn| {
        let taken =
            accounts::take_reset_requests(conn, RESET_BATCH, RESET_REQUEST_FRESH_FOR).await?;
        // Requests that arrived together for one address get one link.
        let addresses: std::collections::BTreeSet<&str> = taken
            .iter()
            .filter(|r| r.fresh)
            .map(|r| r.email_normalized.as_str())
            .collect();
        for address in addresses {
            queue_reset_email(conn, app, address, per_address).await?;
        }
        Ok(taken.len())
    })
    .await
}

/// Runs `send_requested_reset_links` until dropped, polling every `interval` when idle.
pub async fn run_reset_link_worker(
    pool: DbPool,
    app: AppSettings,
    per_address: u32,
    interval: std::time::Duration,
) {
    loop {
        let taken = match pool.get().await {
            Ok(mut conn) => send_requested_reset_links(&mut conn, &app, per_address)
                .await
                .map_err(anyhow::Error::from),
            Err(error) => Err(error.into()),
        };
        match taken {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "password-reset requests not processed; will retry")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Queues a reset email for the account holding `normalized`, if there is one (in the caller's
/// transaction).
async fn queue_reset_email(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    normalized: &str,
    per_address: u32,
) -> Result<(), Error> {
    let Some(account) = accounts::lock_active_by_email(conn, normalized).await? else {
        return Ok(());
    };
    let purpose = TokenPurpose::ResetPassword;
    let since = Utc::now() - RESET_LINK_WINDOW;
    if accounts::tokens_issued_since(conn, account.id, purpose, since).await?
        >= i64::from(per_address)
    {
        return Ok(());
    }
    let token = OpaqueToken::generate();
    let expires_at = Utc::now() + RESET_TOKEN_TTL;
    accounts::insert_token(
        conn,
        &token.digest(),
        account.id,
        TokenPurpose::ResetPassword,
        None,
        expires_at,
    )
    .await?;
    let link = frontend_link(app, "reset-password", Some(&token));
    let email = Template::ResetPassword {
        // An unverified account's name was chosen by whoever signed up: not for its mailbox.
        name: match account.email_verified_at {
            Some(_) => account.name,
            None => "there".into(),
        },
        link,
    };
    outbox::enqueue(conn, Some(account.id), &account.email, &email.email()).await?;
    Ok(())
}

/// Whether `token` is a live reset link, checked before the new password is hashed so that
/// unknown tokens cost no hashing (the link is spent, and checked again, by `reset_password`).
pub async fn reset_link_is_live(conn: &mut AsyncPgConnection, token: &str) -> Result<(), Error> {
    let digest = crate::auth::tokens::digest(token);
    match accounts::token_is_live(conn, &digest, &[TokenPurpose::ResetPassword]).await? {
        true => Ok(()),
        false => Err(Error::InvalidToken),
    }
}

/// Sets a new password from a reset link and signs every session out.
pub async fn reset_password(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    request_id: Option<String>,
    token: &str,
    password_hash: &str,
) -> Result<(), Error> {
    let digest = crate::auth::tokens::digest(token);
    conn.transaction(async move |conn| {
        lock_token_holder(conn, &digest).await?;
        let spent = accounts::spend_token(conn, &digest, &[TokenPurpose::ResetPassword])
            .await?
            .ok_or(Error::InvalidToken)?;
        let account = accounts::find(conn, spent.account_id).await?;
        accounts::set_password_hash(conn, account.id, password_hash).await?;
        // Every other reset link of the account is stale now.
        accounts::void_tokens(conn, account.id, &[TokenPurpose::ResetPassword]).await?;
        // Following the emailed link proves the address, too.
        accounts::mark_verified(conn, account.id).await?;
        sessions::revoke_all(conn, account.id).await?;
        let notice = Template::PasswordChanged {
            name: account.name.clone(),
            reset_link: frontend_link(app, "forgot-password", None),
        };
        outbox::enqueue(conn, Some(account.id), &account.email, &notice.email()).await?;
        audit::record(
            conn,
            &holder(&account, request_id),
            audit::about_account("account.password_reset", account.id),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Starts an email change (the password was checked by the caller): the new address gets a
/// link; if it already has an account, that account's owner is told instead and nothing changes.
pub async fn request_email_change(
    conn: &mut AsyncPgConnection,
    app: &AppSettings,
    actor: &Actor,
    account: &Account,
    new_email: &EmailAddress,
) -> Result<(), Error> {
    conn.transaction(async move |conn| {
        // The password was checked against this hash; a reset since then voids the request.
        let checked = account.password_hash.as_deref().unwrap_or_default();
        lock_with_password(conn, account.id, checked).await?;
        match accounts::lock_active_by_email(conn, &new_email.normalized()).await? {
            Some(owner) => {
                let notice = Template::AlreadyRegistered {
                    name: owner.name,
                    sign_in_link: frontend_link(app, "sign-in", None),
                    reset_link: frontend_link(app, "forgot-password", None),
                };
                outbox::enqueue(conn, Some(owner.id), &owner.email, &notice.email()).await?;
            }
            None => {
                let token = OpaqueToken::generate();
                let expires_at = Utc::now() + VERIFY_TOKEN_TTL;
                let address = Some(new_email.as_str());
                accounts::insert_token(
                    conn,
                    &token.digest(),
                    account.id,
                    TokenPurpose::ChangeEmail,
                    address,
                    expires_at,
                )
                .await?;
                let confirm = Template::ConfirmNewEmail {
                    link: frontend_link(app, "verify-email", Some(&token)),
                };
                outbox::enqueue(conn, Some(account.id), new_email.as_str(), &confirm.email())
                    .await?;
            }
        }
        audit::record(
            conn,
            actor,
            audit::about_account("account.email_change_requested", account.id),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Corrects the holder's name (the right to rectification), audited.
pub async fn rectify_name(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    account: AccountId,
    name: &AccountName,
) -> Result<Account, Error> {
    conn.transaction(async move |conn| {
        if !accounts::lock_active(conn, account).await? {
            return Err(Error::NotFound);
        }
        let updated = accounts::set_name(conn, account, name.as_str()).await?;
        audit::record(
            conn,
            actor,
            audit::about_account("account.rectified", account),
        )
        .await?;
        Ok(updated)
    })
    .await
}

/// Turns the holder's status-update emails on or off, audited.
pub async fn set_status_update_emails(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    account: AccountId,
    on: bool,
) -> Result<(), Error> {
    set_status_emails(conn, actor, account, on, "account.preferences_updated").await
}

/// Turns status-update emails off from the one-click link in one of them (RFC 8058): the link's
/// signed token names the account, and its holder acts as the resident. Idempotent; audited.
/// An erased account is not found.
pub async fn unsubscribe(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    request_id: Option<String>,
) -> Result<(), Error> {
    let actor = Actor {
        id: Some(account),
        role: Role::Resident.as_str(),
        request_id,
    };
    set_status_emails(conn, &actor, account, false, "account.unsubscribed").await
}

async fn set_status_emails(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    account: AccountId,
    on: bool,
    action: &'static str,
) -> Result<(), Error> {
    conn.transaction(async move |conn| {
        if !accounts::lock_active(conn, account).await? {
            return Err(Error::NotFound);
        }
        accounts::set_status_update_emails(conn, account, on).await?;
        audit::record(conn, actor, audit::about_account(action, account)).await?;
        Ok(())
    })
    .await
}

/// Signs one of the holder's sessions out, audited; not found unless it is theirs and live.
pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    account: AccountId,
    session: SessionId,
) -> Result<(), Error> {
    conn.transaction(async move |conn| {
        if !accounts::lock_active(conn, account).await?
            || !sessions::revoke(conn, account, session).await?
        {
            return Err(Error::NotFound);
        }
        let event = audit::Event {
            target_type: "session",
            target_id: Some(session.0),
            ..audit::about_account("session.revoked", account)
        };
        audit::record(conn, actor, event).await?;
        Ok(())
    })
    .await
}

/// A sign-in as its caller gives it.
pub struct SignInAttempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// What the caller's session list will call it (from its User-Agent).
    pub device: &'a str,
    pub request_id: Option<String>,
}

/// What limits sign-ins to an address: failures in a row lock it for a while (`auth::throttle`).
pub struct SignInBackoff<'a> {
    pub keys: &'a ThrottleKeys,
    pub rule: Backoff,
    /// `rule.schedule()`, worked out once.
    pub locks: &'a [std::time::Duration],
}

/// A session just opened, with its first refresh token.
pub struct OpenedSession {
    pub account: AccountId,
    pub session: SessionId,
    pub role: Role,
    pub refresh_token: OpaqueToken,
}

/// Signs in. A wrong email and a wrong password cost the same hash and fail the same
/// (`WrongCredentials`); `EmailNotVerified` comes only after the right password. Each attempt
/// counts against its address before the password is checked (in the database, so parallel
/// guesses on every instance all count), and the right password clears the count.
pub async fn sign_in(
    pool: &DbPool,
    hasher: &PasswordHasher,
    backoff: &SignInBackoff<'_>,
    refresh_token_ttl: Duration,
    attempt: SignInAttempt<'_>,
) -> Result<OpenedSession, Error> {
    // No longer address can exist; capping the key keeps the back-off rows small under a flood.
    let email: String = attempt
        .email
        .trim()
        .to_lowercase()
        .chars()
        .take(EmailAddress::MAX_CHARS + 1)
        .collect();
    let address_key = backoff.keys.address(&email);
    let account = {
        // The count travels with the account lookup, in one round trip.
        let conn = pool.get().await?;
        let (locked, account) = futures_util::future::try_join(
            throttles::begin_sign_in_attempt(
                &conn,
                &address_key,
                backoff.rule.free_failures,
                backoff.locks,
                backoff.rule.max,
            ),
            accounts::find_by_email(&conn, &email),
        )
        .await?;
        if let Some(wait) = locked {
            return Err(Error::RateLimited(wait));
        }
        account
    };
    // No connection is held while waiting for the hasher: a burst of sign-ins must not drain the
    // pool that every other request needs. Without an account, a dummy hash is checked instead:
    // the same work either way.
    let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let verified = hasher.verify(attempt.password, stored).await?;
    let (Some(account), Verified::Yes | Verified::YesRehashed(_)) = (account, &verified) else {
        return Err(Error::WrongCredentials);
    };
    // The session may only be written for the password checked here, if it is still current.
    let stored = account.password_hash.clone().unwrap_or_default();
    let checked_hash = match verified {
        Verified::YesRehashed(rehash) => {
            store_rehash(pool, hasher, account.id, &stored, rehash, attempt.password).await?
        }
        _ => stored,
    };
    let mut conn = pool.get().await?;
    if account.email_verified_at.is_none() {
        // The password was right: the address's failures are cleared all the same.
        throttles::clear_sign_in_failures(&conn, &address_key).await?;
        return Err(Error::EmailNotVerified);
    }
    let refresh_token = OpaqueToken::generate();
    let session = SessionId(uuid::Uuid::new_v4());
    let actor = Actor {
        id: Some(account.id),
        role: account.role.as_str(),
        request_id: attempt.request_id,
    };
    let opened = sessions::open_for_password(
        &mut conn,
        sessions::Opening {
            id: session,
            account: account.id,
            checked_hash: &checked_hash,
            device: attempt.device,
            expires_at: Utc::now() + refresh_token_ttl,
            refresh_digest: &refresh_token.digest(),
            actor: &actor,
            event: audit::Event {
                target_type: "session",
                target_id: Some(session.0),
                ..audit::about_account("session.created", account.id)
            },
            backoff_key: &address_key,
        },
    )
    .await?;
    // Not opened: reset or erased while the password was being checked, as if it were wrong.
    match opened {
        true => Ok(OpenedSession {
            account: account.id,
            session,
            role: account.role,
            refresh_token,
        }),
        false => Err(Error::WrongCredentials),
    }
}

/// Stores `rehash` (the password just checked against `checked`, hashed with today's parameters)
/// in its place, and answers the hash a session may now be opened for. If the hash has moved
/// meanwhile, a parallel sign-in rehashed it first or a reset changed it: the password is checked
/// once more against what is stored now (a second hash, only in this rare case, with no
/// connection held), so the first is the right password it is and the second a wrong one.
async fn store_rehash(
    pool: &DbPool,
    hasher: &PasswordHasher,
    account: AccountId,
    checked: &str,
    rehash: String,
    password: &str,
) -> Result<String, Error> {
    let now = {
        let mut conn = pool.get().await?;
        if accounts::rehash_password(&mut conn, account, checked, &rehash).await? {
            return Ok(rehash);
        }
        accounts::current_password_hash(&mut conn, account).await?
    };
    match (hasher.verify(password, now.as_deref()).await?, now) {
        (Verified::Yes | Verified::YesRehashed(_), Some(now)) => Ok(now),
        _ => Err(Error::WrongCredentials),
    }
}

/// Takes the lock of the account a token was issued to before the token itself is spent (the
/// lock order of `db::accounts`); an erased account's links are simply invalid.
async fn lock_token_holder(conn: &mut AsyncPgConnection, digest: &[u8]) -> Result<(), Error> {
    let holder = accounts::token_holder(conn, digest)
        .await?
        .ok_or(Error::InvalidToken)?;
    match accounts::lock_active(conn, holder).await? {
        true => Ok(()),
        false => Err(Error::InvalidToken),
    }
}

/// Share-locks the account while `checked` (the hash a password was just checked against) is
/// still its password: a step that checked a password before a reset committed must not act on
/// it after. The lock makes a concurrent reset wait for this transaction, then revoke what it
/// wrote.
async fn lock_with_password(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    checked: &str,
) -> Result<(), Error> {
    match accounts::lock_returning_password(conn, account).await? {
        None => Err(Error::Erased),
        Some(stored) if stored.as_deref() == Some(checked) => Ok(()),
        Some(_) => Err(Error::PasswordChanged),
    }
}

/// `sian.jones@example.org` → `s***@example.org`: enough to recognise, not to harvest.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masked_emails_keep_the_first_letter_and_the_domain() {
        assert_eq!(
            super::mask_email("sian.jones@example.org"),
            "s***@example.org"
        );
        assert_eq!(super::mask_email("nonsense"), "***");
    }
}
