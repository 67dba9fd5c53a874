//! Bulk data for benchmarks (`mynorfolk seed`): synthetic residents, staff and applications,
//! generated inside PostgreSQL so a million rows take seconds, not hours. Never for production.

use diesel::sql_types::{BigInt, Jsonb, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::domain::services::{ServiceKind, ServiceRules};

/// Seeded addresses end in this reserved domain, so they can never reach a real person.
pub const SEED_DOMAIN: &str = "example.invalid";

const BATCH: i64 = 100_000;

/// Adds `accounts` residents, ten staff, and `applications` applications spread over the four
/// services, all statuses and the last `applications × 30 s` of time; a third are assigned.
pub async fn seed(
    conn: &mut AsyncPgConnection,
    accounts: i64,
    applications: i64,
    terms_version: &str,
    rules: &ServiceRules,
) -> anyhow::Result<()> {
    // A million rows a statement take longer than the service's per-statement limit.
    diesel::sql_query("SET statement_timeout = 0")
        .execute(conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO accounts (name, email, email_normalized, email_verified_at, role, terms_version, terms_accepted_at)
         SELECT CASE WHEN g <= 10 THEN 'Seed Officer ' ELSE 'Seed Resident ' END || g,
                'seed-' || g || '@' || $3, 'seed-' || g || '@' || $3, now(),
                CASE WHEN g <= 10 THEN 'staff' ELSE 'resident' END, $2, now()
         FROM generate_series(1, $1 + 10) AS g
         ON CONFLICT (email_normalized) DO NOTHING",
    )
    .bind::<BigInt, _>(accounts)
    .bind::<Text, _>(terms_version)
    .bind::<Text, _>(SEED_DOMAIN)
    .execute(conn)
    .await?;

    let today = chrono::Utc::now().date_naive();
    let examples: Vec<serde_json::Value> = ServiceKind::ALL
        .iter()
        .map(|k| k.details_example(rules, today))
        .collect();
    let mut done = 0;
    while done < applications {
        let count = BATCH.min(applications - done);
        diesel::sql_query(
            "WITH residents AS (
                 SELECT array_agg(id ORDER BY id) AS ids FROM accounts
                 WHERE email_normalized LIKE 'seed-%@' || $7 AND role = 'resident'),
             officers AS (
                 SELECT array_agg(id ORDER BY id) AS ids FROM accounts
                 WHERE email_normalized LIKE 'seed-%@' || $7 AND role = 'staff'),
             rows AS (
                 SELECT g,
                        nextval('application_number_seq') AS number,
                        now() - (g * interval '30 seconds') AS at,
                        (ARRAY['skip-permit', 'scaffold-licence', 'vehicle-crossing', 'ev-cable-channel'])[1 + g % 4] AS code,
                        (ARRAY['submitted', 'under_review', 'more_information_required', 'approved',
                               'rejected', 'issued', 'closed', 'withdrawn'])[1 + (g / 4) % 8] AS status
                 FROM generate_series($1 + 1, $1 + $2) AS g)
             INSERT INTO applications (reference, account_id, service_code, status, details, fee_pence,
                                       assigned_to, submitted_at, updated_at, expected_decision_by,
                                       payment_status)
             SELECT s.reference_prefix || '-' || to_char(r.at, 'YYYY') || '-' || lpad(r.number::text, greatest(6, length(r.number::text)), '0'),
                    residents.ids[1 + r.g % array_length(residents.ids, 1)],
                    r.code, r.status,
                    (ARRAY[$3, $4, $5, $6]::jsonb[])[1 + r.g % 4],
                    s.fee_pence,
                    CASE WHEN r.g % 3 = 0 THEN officers.ids[1 + r.g % array_length(officers.ids, 1)] END,
                    r.at, r.at, (r.at + s.target_decision_days * interval '1 day')::date,
                    -- fees past review are taken as paid offline (no payment rows to seed)
                    CASE WHEN r.status = 'submitted' THEN 'due' ELSE 'not_required' END
             FROM rows r JOIN services s ON s.code = r.code, residents, officers",
        )
        .bind::<BigInt, _>(done)
        .bind::<BigInt, _>(count)
        .bind::<Jsonb, _>(&examples[0])
        .bind::<Jsonb, _>(&examples[1])
        .bind::<Jsonb, _>(&examples[2])
        .bind::<Jsonb, _>(&examples[3])
        .bind::<Text, _>(SEED_DOMAIN)
        .execute(conn)
        .await?;
        done += count;
        tracing::info!(done, applications, "seeded applications");
    }
    diesel::sql_query("ANALYZE accounts, applications")
        .execute(conn)
        .await?;
    Ok(())
}
