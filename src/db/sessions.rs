//! Signed-in sessions and their rotating refresh tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::Prepared;
use crate::db::audit::{self, Actor};
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

/// A session to open for a password just checked, with what the statement writes beside it.
pub struct Opening<'a> {
    pub id: SessionId,
    pub account: AccountId,
    /// The hash the password was checked against: the session opens only while it is still the
    /// account's password.
    pub checked_hash: &'a str,
    pub device: &'a str,
    pub expires_at: DateTime<Utc>,
    pub refresh_digest: &'a [u8],
    /// The session's audit row (the actor signing in, and the event).
    pub actor: &'a Actor,
    pub event: audit::Event<'a>,
    /// The address whose failed sign-ins a success clears (`throttles`).
    pub backoff_key: &'a [u8],
}

#[derive(QueryableByName)]
struct Opened {
    #[diesel(sql_type = Bool)]
    opened: bool,
}

/// Opens a session with its first refresh token and audit row, and clears the address's failed
/// sign-ins, unless the account was erased or its password changed since it was checked: then
/// nothing is written and the answer is `false`. One statement, its own transaction: no round
/// trips for BEGIN and COMMIT, and nothing resting on the order pipelined statements go out in.
///
/// The account lock (shared, as `accounts::lock_active` takes it) comes before the row's share
/// lock, in the lock order of `db::accounts`. A reset or erasure that commits first is seen
/// although the statement's snapshot is older: a locked row that changed is checked again as it
/// now is (PostgreSQL's read-committed re-check). One that comes later waits for this commit and
/// then revokes the session like any other. The commit does not wait for the disk
/// (`synchronous_commit` off for this transaction): a crash could lose the last moment's
/// sign-ins, whose holders sign in again, never half of one; any later ordinary commit writes it
/// to disk first, so nothing durable can refer to a session that was lost.
pub async fn open_for_password(
    conn: &mut AsyncPgConnection,
    new: Opening<'_>,
) -> QueryResult<bool> {
    let result: Opened = Prepared::sql(
        "WITH unhurried AS (SELECT set_config('synchronous_commit', 'off', true)), \
         held AS (SELECT pg_advisory_xact_lock_shared(hashtextextended($2::text, 0)) FROM unhurried), \
         account AS (SELECT a.id FROM accounts a, held \
             WHERE a.id = $2 AND a.erased_at IS NULL AND a.password_hash = $3 FOR SHARE OF a), \
         session AS (INSERT INTO sessions (id, account_id, device, expires_at) \
             SELECT $1, id, $4, $5 FROM account RETURNING id), \
         refresh AS (INSERT INTO refresh_tokens (session_id, token_hash) SELECT id, $6 FROM session), \
         audit AS (INSERT INTO audit_events \
             (actor_id, actor_role, action, target_type, target_id, subject_id, reason, request_id) \
             SELECT $7, $8, $9, $10, $11, $12, $13, $14 FROM session), \
         cleared AS (DELETE FROM sign_in_backoff WHERE address_key = $15 AND EXISTS (SELECT FROM session)) \
         SELECT EXISTS (SELECT FROM session) AS opened",
        |query| {
            let event = &new.event;
            query
                .bind::<SqlUuid, _>(new.id)
                .bind::<SqlUuid, _>(new.account)
                .bind::<Text, _>(new.checked_hash)
                .bind::<Text, _>(new.device)
                .bind::<Timestamptz, _>(new.expires_at)
                .bind::<Bytea, _>(new.refresh_digest)
                .bind::<Nullable<SqlUuid>, _>(new.actor.id)
                .bind::<Text, _>(new.actor.role)
                .bind::<Text, _>(event.action)
                .bind::<Text, _>(event.target_type)
                .bind::<Nullable<SqlUuid>, _>(event.target_id)
                .bind::<Nullable<SqlUuid>, _>(event.subject_id)
                .bind::<Nullable<Text>, _>(event.reason)
                .bind::<Nullable<Text>, _>(new.actor.request_id.as_deref())
                .bind::<Bytea, _>(new.backoff_key)
        },
    )
    .get_result(conn)
    .await?;
    Ok(result.opened)
}

async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    digest: &[u8],
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::session_id.eq(session),
            refresh_tokens::token_hash.eq(digest),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

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
