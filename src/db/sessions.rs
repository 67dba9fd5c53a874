//! Signed-in sessions and their rotating refresh tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{AccountId, SessionId};
use crate::domain::account::Role;
use crate::schema::{accounts, refresh_tokens, sessions};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: SessionId,
    pub device: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Where it stands in a newest-first list (by sign-in).
    pub fn position(&self) -> super::Position {
        super::Position {
            at: self.created_at,
            id: self.id.0,
        }
    }
}

/// Opens session `id` with its first refresh token.
pub async fn create(
    conn: &AsyncPgConnection,
    id: SessionId,
    account_id: AccountId,
    device: &str,
    expires_at: DateTime<Utc>,
    refresh_digest: &[u8],
) -> QueryResult<()> {
    // The id is chosen here, not by the database, so that both rows (and the caller's audit row)
    // can be sent together in one round trip.
    let session = diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::account_id.eq(account_id),
            sessions::device.eq(device),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(&mut { conn });
    let refresh_token = insert_refresh_token(conn, id, refresh_digest);
    futures_util::future::try_join(session, refresh_token).await?;
    Ok(())
}

async fn insert_refresh_token(
    conn: &AsyncPgConnection,
    session: SessionId,
    digest: &[u8],
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::session_id.eq(session),
            refresh_tokens::token_hash.eq(digest),
        ))
        .execute(&mut { conn })
        .await?;
    Ok(())
}

/// Lets the current transaction's commit return before its WAL is on disk (PostgreSQL's
/// `synchronous_commit = off`, for this transaction only), for a sign-in's new session: a crash
/// could lose the last fraction of a second of sign-ins (whose holders then sign in again), never
/// leave half of one, and any later ordinary commit — a revocation, an audited read — writes it to
/// disk first, so nothing durable can refer to a session that was lost. The disk wait was a large
/// part of a sign-in's cost besides the hash.
pub async fn commit_without_waiting_for_the_disk(conn: &AsyncPgConnection) -> QueryResult<()> {
    // `set_config(…, true)` is `SET LOCAL` as a typed statement, so it can share a round trip.
    diesel::select(set_config("synchronous_commit", "off", true))
        .execute(&mut { conn })
        .await?;
    Ok(())
}

diesel::define_sql_function!(fn set_config(name: diesel::sql_types::Text, value: diesel::sql_types::Text, is_local: diesel::sql_types::Bool) -> diesel::sql_types::Text);

/// A session found live by the per-request check, with who its account is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    pub session: SessionId,
    pub account: AccountId,
    /// The account's current role: a token's own claims could be minted, or outlive a change of
    /// role.
    pub role: Role,
    /// Moves whenever any of the account's applications changes: what tells whether a list
    /// rendered earlier is still the list the database holds.
    pub applications_version: i64,
}

/// A live session's row as stored, its role not yet read as a `Role` (`live`): a role this
/// build does not know fails that session's requests only, not the others checked with it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LiveSessionRow {
    pub session: SessionId,
    pub account: AccountId,
    role: String,
    applications_version: i64,
}

impl LiveSessionRow {
    pub fn live(&self) -> QueryResult<LiveSession> {
        Ok(LiveSession {
            session: self.session,
            account: self.account,
            role: typed_role(self.role.clone())?,
            applications_version: self.applications_version,
        })
    }
}

/// The check behind every access token, for many requests at once: which of `sessions` are live
/// (not revoked, not expired), with their accounts' role and `applications_version` — one
/// primary-key lookup each, in one statement. The caller matches each answer to the account its
/// token named.
pub async fn live_sessions(
    conn: &mut AsyncPgConnection,
    sessions: &[SessionId],
) -> QueryResult<Vec<LiveSessionRow>> {
    sessions::table
        .inner_join(accounts::table)
        .filter(sessions::id.eq_any(sessions))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .select((
            sessions::id,
            sessions::account_id,
            accounts::role,
            accounts::applications_version,
        ))
        .load(conn)
        .await
}

/// A stored role, which must be one the service knows: never a default.
fn typed_role(stored: String) -> QueryResult<Role> {
    Role::try_from(stored).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// A new token replaced it.
    Rotated {
        account_id: AccountId,
        session_id: SessionId,
        role: Role,
    },
    /// It had been spent before: someone holds a copy. The whole session is now revoked.
    Reused,
    /// Unknown, or its session is over.
    Invalid,
}

/// Spends `presented` and issues `replacement` in one transaction. Concurrent presentations of
/// one token are serialised by the row lock: exactly one rotates, the other sees reuse.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    presented: &[u8],
    replacement: &[u8],
) -> QueryResult<Rotation> {
    let presented = presented.to_vec();
    let replacement = replacement.to_vec();
    conn.transaction(async move |conn| {
        let found: Option<(SessionId, Option<DateTime<Utc>>)> = refresh_tokens::table
            .find(&presented)
            .select((refresh_tokens::session_id, refresh_tokens::spent_at))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((session_id, spent_at)) = found else {
            return Ok(Rotation::Invalid);
        };
        if spent_at.is_some() {
            revoke_session(conn, session_id).await?;
            return Ok(Rotation::Reused);
        }
        let live: Option<(AccountId, String)> = sessions::table
            .inner_join(accounts::table)
            .filter(sessions::id.eq(session_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(diesel::dsl::now))
            .select((accounts::id, accounts::role))
            .first(conn)
            .await
            .optional()?;
        let Some((account_id, role)) = live else {
            return Ok(Rotation::Invalid);
        };
        diesel::update(refresh_tokens::table.find(&presented))
            .set(refresh_tokens::spent_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        insert_refresh_token(conn, session_id, &replacement).await?;
        diesel::update(sessions::table.find(session_id))
            .set(sessions::last_used_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        Ok(Rotation::Rotated {
            account_id,
            session_id,
            role: typed_role(role)?,
        })
    })
    .await
}

async fn revoke_session(conn: &mut AsyncPgConnection, session: SessionId) -> QueryResult<usize> {
    diesel::update(sessions::table.find(session))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// Revokes one of `account`'s sessions; `false` when it has no such live session.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    session: SessionId,
) -> QueryResult<bool> {
    let revoked = diesel::update(
        sessions::table
            .find(session)
            .filter(sessions::account_id.eq(account))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(revoked == 1)
}

pub async fn revoke_all(conn: &mut AsyncPgConnection, account: AccountId) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::account_id.eq(account))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// One page of the account's live sessions, newest first (`limit + 1` rows, to tell whether
/// there is another page).
pub async fn list_live(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    after: Option<super::Position>,
    limit: i64,
) -> QueryResult<Vec<Session>> {
    let mut query = sessions::table
        .filter(sessions::account_id.eq(account))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            sessions::created_at.lt(after.at).or(sessions::created_at
                .eq(after.at)
                .and(sessions::id.lt(after.id))),
        );
    }
    query
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(limit + 1)
        .select(Session::as_select())
        .load(conn)
        .await
}
