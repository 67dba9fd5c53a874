//! Accounts and their one-time email tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::AccountId;
use crate::domain::account::Role;
use crate::schema::{account_tokens, accounts, password_reset_requests};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub lawful_basis: String,
    pub terms_version: String,
    pub terms_accepted_at: DateTime<Utc>,
    pub status_update_emails: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccountRow<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: &'a str,
    pub terms_version: &'a str,
    pub terms_accepted_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// Inserts the account unless the address is taken; `None` when it is (also under a race).
pub async fn insert_if_new(
    conn: &mut AsyncPgConnection,
    row: &NewAccountRow<'_>,
) -> QueryResult<Option<AccountId>> {
    diesel::insert_into(accounts::table)
        .values(row)
        .on_conflict(accounts::email_normalized)
        .do_nothing()
        .returning(accounts::id)
        .get_result(conn)
        .await
        .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: AccountId) -> QueryResult<Account> {
    accounts::table
        .find(id)
        .select(Account::as_select())
        .first(conn)
        .await
}

pub async fn find_by_email(
    conn: &AsyncPgConnection,
    normalized: &str,
) -> QueryResult<Option<Account>> {
    accounts::table
        .filter(accounts::email_normalized.eq(normalized))
        .select(Account::as_select())
        .first(&mut { conn })
        .await
        .optional()
}

pub async fn mark_verified(conn: &mut AsyncPgConnection, id: AccountId) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::email_verified_at.eq(diesel::dsl::now),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .filter(accounts::email_verified_at.is_null())
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives a never-verified account a new name and password and voids its earlier links.
pub async fn restart_unverified(
    conn: &mut AsyncPgConnection,
    id: AccountId,
    name: &str,
) -> QueryResult<()> {
    diesel::update(
        accounts::table
            .find(id)
            .filter(accounts::email_verified_at.is_null()),
    )
    .set((
        accounts::name.eq(name),
        accounts::password_hash.eq(None::<String>),
        accounts::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    diesel::delete(account_tokens::table.filter(account_tokens::account_id.eq(id)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_name(
    conn: &mut AsyncPgConnection,
    id: AccountId,
    name: &str,
) -> QueryResult<Account> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::name.eq(name),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Account::as_returning())
        .get_result(conn)
        .await
}

pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    id: AccountId,
    hash: &str,
) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::password_hash.eq(hash),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_status_update_emails(
    conn: &mut AsyncPgConnection,
    id: AccountId,
    on: bool,
) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::status_update_emails.eq(on),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves the account to a new address; `false` when another account holds it by now.
pub async fn set_email(
    conn: &mut AsyncPgConnection,
    id: AccountId,
    email: &str,
    normalized: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(accounts::table.find(id))
        .set((
            accounts::email.eq(email),
            accounts::email_normalized.eq(normalized),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await;
    match updated {
        Ok(_) => Ok(true),
        // The unique index decides, so two verifications racing for one address cannot both win.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(other) => Err(other),
    }
}

// The account lock. Every transaction that writes something about a person takes it first,
// before any row of theirs: shared by ordinary writers, exclusive by an erasure, which then
// rewrites all those rows. It is a transaction-scoped advisory lock on the account id rather than
// a row lock because PostgreSQL queues advisory lock requests fairly: a stream of writers sharing
// a row lock can starve a waiting exclusive one, and an erasure must not wait for ever. Once an
// erasure commits, a writer that waited sees `erased_at` and writes nothing.

// Typed so that diesel prepares each lock statement once per connection. The functions return
// `void`, which is selected as `IS NULL` and never read.
diesel::define_sql_function!(fn hashtextextended(key: diesel::sql_types::Text, seed: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt);
diesel::define_sql_function!(fn pg_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);
diesel::define_sql_function!(fn pg_advisory_xact_lock_shared(key: diesel::sql_types::BigInt) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// Takes the account lock (see above) and says whether the account is live.
async fn lock(
    conn: &AsyncPgConnection,
    id: AccountId,
    exclusive: bool,
) -> QueryResult<Option<Account>> {
    let live = async {
        accounts::table
            .find(id)
            .filter(accounts::erased_at.is_null())
            .select(Account::as_select())
            .first(&mut { conn })
            .await
            .optional()
    };
    behind_lock(conn, id, exclusive, live).await
}

/// Takes the account lock and runs `then` behind it in the same round trip: the server runs it
/// once the lock is granted, as a statement of its own, so it sees whatever committed while the
/// lock was awaited. `then` must be lazy (an `async` block), so that it is sent after the lock;
/// the caller may send more statements behind both.
async fn behind_lock<T>(
    conn: &AsyncPgConnection,
    id: AccountId,
    exclusive: bool,
    then: impl std::future::Future<Output = QueryResult<T>>,
) -> QueryResult<T> {
    // The same key as `hashtextextended(id::text, 0)` in SQL: a uuid's text is its hyphenated
    // lower-case form, as Rust writes it.
    let key = hashtextextended(id.0.to_string(), 0_i64);
    let locked = async {
        match exclusive {
            true => {
                diesel::select(pg_advisory_xact_lock(key).is_null())
                    .execute(&mut { conn })
                    .await
            }
            false => {
                diesel::select(pg_advisory_xact_lock_shared(key).is_null())
                    .execute(&mut { conn })
                    .await
            }
        }
    };
    let (_, value) = futures_util::future::try_join(locked, then).await?;
    Ok(value)
}

/// Takes the account lock, shared, for the rest of the caller's transaction; `false` when the
/// account is erased (or gone), in which case the caller must write nothing about the person.
pub async fn lock_active(conn: &AsyncPgConnection, id: AccountId) -> QueryResult<bool> {
    Ok(lock(conn, id, false).await?.is_some())
}

/// `lock_active`, returning the account as it is once locked.
pub async fn lock_active_account(
    conn: &AsyncPgConnection,
    id: AccountId,
) -> QueryResult<Option<Account>> {
    lock(conn, id, false).await
}

/// Takes the account lock exclusively (for an erasure): every other writer waits, and then finds
/// the account erased.
pub async fn lock_for_erasure(conn: &AsyncPgConnection, id: AccountId) -> QueryResult<bool> {
    Ok(lock(conn, id, true).await?.is_some())
}

/// `lock_active` for the account holding `normalized`, returning it as it is once locked (`None`
/// if it was erased, or moved to another address, meanwhile).
pub async fn lock_active_by_email(
    conn: &mut AsyncPgConnection,
    normalized: &str,
) -> QueryResult<Option<Account>> {
    let Some(found) = find_by_email(conn, normalized).await? else {
        return Ok(None);
    };
    if !lock_active(conn, found.id).await? {
        return Ok(None);
    }
    let now = find_by_email(conn, normalized).await?;
    Ok(now.filter(|account| account.id == found.id))
}

/// Takes the account lock (shared) and share-locks the row unless it is erased; its password
/// hash, when it is there. The row lock makes a password change wait until the caller is done.
/// Both statements travel in one round trip (`behind_lock`).
pub async fn lock_returning_password(
    conn: &AsyncPgConnection,
    id: AccountId,
) -> QueryResult<Option<Option<String>>> {
    let password = async {
        accounts::table
            .find(id)
            .filter(accounts::erased_at.is_null())
            .select(accounts::password_hash)
            .for_share()
            .first(&mut { conn })
            .await
            .optional()
    };
    behind_lock(conn, id, false, password).await
}

/// Replaces the password hash with a rehash of the same password, unless it changed meanwhile.
pub async fn rehash_password(
    conn: &mut AsyncPgConnection,
    id: AccountId,
    old: &str,
    new: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(
        accounts::table
            .find(id)
            .filter(accounts::password_hash.eq(old)),
    )
    .set(accounts::password_hash.eq(new))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// The account's password hash as it is now: none if it has none, or no longer exists.
pub async fn current_password_hash(
    conn: &mut AsyncPgConnection,
    id: AccountId,
) -> QueryResult<Option<String>> {
    accounts::table
        .find(id)
        .select(accounts::password_hash)
        .first::<Option<String>>(conn)
        .await
        .optional()
        .map(Option::flatten)
}

/// What a one-time email token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
            TokenPurpose::ChangeEmail => "change_email",
        }
    }
}

pub async fn insert_token(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
    account_id: AccountId,
    purpose: TokenPurpose,
    new_email: Option<&str>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::token_hash.eq(digest),
            account_tokens::account_id.eq(account_id),
            account_tokens::purpose.eq(purpose.as_str()),
            account_tokens::new_email.eq(new_email),
            account_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `digest` names a live, unspent token of one of `purposes`, without spending it: lets a
/// slow step (hashing a new password) wait until the link is known to be good.
pub async fn token_is_live(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
    purposes: &[TokenPurpose],
) -> QueryResult<bool> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    diesel::select(diesel::dsl::exists(
        account_tokens::table
            .find(digest)
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::expires_at.gt(diesel::dsl::now))
            .filter(account_tokens::purpose.eq_any(purposes)),
    ))
    .get_result(conn)
    .await
}

/// Deletes every unspent token of `account` for `purposes`: a completed reset or email change
/// makes the other links sent for those purposes stale.
pub async fn void_tokens(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    purposes: &[TokenPurpose],
) -> QueryResult<usize> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    diesel::delete(
        account_tokens::table
            .filter(account_tokens::account_id.eq(account))
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::purpose.eq_any(purposes)),
    )
    .execute(conn)
    .await
}

/// The account a token (spent or not) was issued to: read without a lock, so that the caller
/// can lock the account before the token (see the lock order above).
pub async fn token_holder(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
) -> QueryResult<Option<AccountId>> {
    account_tokens::table
        .find(digest)
        .select(account_tokens::account_id)
        .first(conn)
        .await
        .optional()
}

/// A token that was just spent.
#[derive(Debug, Queryable)]
pub struct SpentToken {
    pub account_id: AccountId,
    pub new_email: Option<String>,
}

/// Spends a live token of one of `purposes` in a single statement, so it can be used once only.
pub async fn spend_token(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
    purposes: &[TokenPurpose],
) -> QueryResult<Option<SpentToken>> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    diesel::update(account_tokens::table.find(digest))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(diesel::dsl::now))
        .filter(account_tokens::purpose.eq_any(purposes))
        .set(account_tokens::used_at.eq(diesel::dsl::now))
        .returning((account_tokens::account_id, account_tokens::new_email))
        .get_result(conn)
        .await
        .optional()
}

/// Records that a reset link was asked for `normalized`: the same single insert whatever the
/// address, so that answering takes as long for an address with an account as without.
pub async fn queue_reset_request(
    conn: &mut AsyncPgConnection,
    normalized: &str,
) -> QueryResult<()> {
    diesel::insert_into(password_reset_requests::table)
        .values(password_reset_requests::email_normalized.eq(normalized))
        .execute(conn)
        .await?;
    Ok(())
}

/// A queued reset request, as the worker takes it.
#[derive(QueryableByName)]
pub struct ResetRequest {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email_normalized: String,
    /// Asked for recently enough to be worth answering.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub fresh: bool,
}

/// Takes (deletes and returns) up to `limit` queued reset requests, oldest first, skipping rows
/// another worker holds; those asked for more than `fresh_for` ago are marked stale. Call inside
/// the transaction that acts on them.
pub async fn take_reset_requests(
    conn: &mut AsyncPgConnection,
    limit: i64,
    fresh_for: std::time::Duration,
) -> QueryResult<Vec<ResetRequest>> {
    diesel::sql_query(
        "DELETE FROM password_reset_requests WHERE id IN \
             (SELECT id FROM password_reset_requests ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING email_normalized, requested_at > now() - $2 AS fresh",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .bind::<diesel::sql_types::Interval, _>(diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(fresh_for.as_micros()).unwrap_or(i64::MAX),
    ))
    .load(conn)
    .await
}

/// How many links for `purpose` the account was sent since `since`.
pub async fn tokens_issued_since(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    purpose: TokenPurpose,
    since: DateTime<Utc>,
) -> QueryResult<i64> {
    account_tokens::table
        .filter(account_tokens::account_id.eq(account))
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::created_at.gt(since))
        .count()
        .get_result(conn)
        .await
}
