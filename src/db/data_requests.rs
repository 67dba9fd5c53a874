//! Data-subject requests and their deadlines.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::Position;
use crate::db::ids::{AccountId, DataRequestId};
use crate::domain::data_request::{RequestKind, RequestStatus};
use crate::schema::data_requests;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_requests)]
pub struct DataRequest {
    pub id: DataRequestId,
    pub account_id: AccountId,
    #[diesel(deserialize_as = String)]
    pub kind: RequestKind,
    pub details: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: RequestStatus,
    pub received_at: DateTime<Utc>,
    pub original_due_by: NaiveDate,
    pub due_by: NaiveDate,
    pub extension_reason: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_by: Option<AccountId>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl DataRequest {
    /// Where it stands in a newest-first list (by receipt).
    pub fn position(&self) -> super::Position {
        super::Position {
            at: self.received_at,
            id: self.id.0,
        }
    }
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    kind: RequestKind,
    details: Option<&str>,
    received_at: DateTime<Utc>,
    due_by: NaiveDate,
) -> QueryResult<DataRequest> {
    diesel::insert_into(data_requests::table)
        .values((
            data_requests::account_id.eq(account),
            data_requests::kind.eq(kind.as_str()),
            data_requests::details.eq(details),
            data_requests::received_at.eq(received_at),
            data_requests::original_due_by.eq(due_by),
            data_requests::due_by.eq(due_by),
        ))
        .returning(DataRequest::as_returning())
        .get_result(conn)
        .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: DataRequestId,
    for_update: bool,
) -> QueryResult<Option<DataRequest>> {
    let query = data_requests::table
        .find(id)
        .select(DataRequest::as_select());
    if for_update {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

#[derive(Debug, Default, Clone)]
pub struct QueueFilters {
    /// One person's requests only.
    pub account_id: Option<AccountId>,
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    /// Open requests whose deadline is before this day.
    pub overdue_on: Option<NaiveDate>,
}

/// Requests newest first (the staff queue, or one person's list), keyset-paginated like the
/// application queue.
pub async fn page(
    conn: &mut AsyncPgConnection,
    filters: &QueueFilters,
    after: Option<Position>,
    limit: i64,
) -> QueryResult<Vec<DataRequest>> {
    let mut query = data_requests::table
        .select(DataRequest::as_select())
        .into_boxed();
    if let Some(account) = filters.account_id {
        query = query.filter(data_requests::account_id.eq(account));
    }
    if let Some(status) = filters.status {
        query = query.filter(data_requests::status.eq(status.as_str()));
    }
    if let Some(kind) = filters.kind {
        query = query.filter(data_requests::kind.eq(kind.as_str()));
    }
    if let Some(today) = filters.overdue_on {
        query = query
            .filter(
                data_requests::status.eq_any(
                    RequestStatus::ALL
                        .into_iter()
                        .filter(|s| s.is_open())
                        .map(|s| s.as_str()),
                ),
            )
            .filter(data_requests::due_by.lt(today));
    }
    if let Some(after) = after {
        query = query.filter(
            data_requests::received_at
                .lt(after.at)
                .or(data_requests::received_at
                    .eq(after.at)
                    .and(data_requests::id.lt(after.id))),
        );
    }
    query
        .order((data_requests::received_at.desc(), data_requests::id.desc()))
        .limit(limit + 1)
        .load(conn)
        .await
}

pub async fn extend(
    conn: &mut AsyncPgConnection,
    id: DataRequestId,
    due_by: NaiveDate,
    reason: &str,
) -> QueryResult<DataRequest> {
    diesel::update(data_requests::table.find(id))
        .set((
            data_requests::status.eq(RequestStatus::Extended.as_str()),
            data_requests::due_by.eq(due_by),
            data_requests::extension_reason.eq(reason),
        ))
        .returning(DataRequest::as_returning())
        .get_result(conn)
        .await
}

pub async fn decide(
    conn: &mut AsyncPgConnection,
    id: DataRequestId,
    status: RequestStatus,
    reason: Option<&str>,
    staff: AccountId,
) -> QueryResult<DataRequest> {
    diesel::update(data_requests::table.find(id))
        .set((
            data_requests::status.eq(status.as_str()),
            data_requests::decision_reason.eq(reason),
            data_requests::decided_by.eq(staff),
            data_requests::decided_at.eq(Utc::now()),
        ))
        .returning(DataRequest::as_returning())
        .get_result(conn)
        .await
}
