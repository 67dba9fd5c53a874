//! Export and erasure of one person's data, generated from the personal-data registry, so that
//! every classified column is covered and a new one cannot be missed.

use std::collections::BTreeMap;

use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::AccountId;
use crate::privacy::registry::{Erase, Export, REGISTRY, Rows, owner_condition};

#[derive(diesel::QueryableByName)]
struct JsonRows {
    #[diesel(sql_type = Text)]
    rows: String,
}

/// Every exported column of every row held about `person`, table by table.
pub async fn export(
    conn: &mut AsyncPgConnection,
    person: AccountId,
) -> anyhow::Result<BTreeMap<&'static str, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for table in REGISTRY {
        let Some(condition) = owner_condition(table) else {
            continue;
        };
        let columns: Vec<&str> = table
            .columns
            .iter()
            .filter(|c| c.export == Export::Yes)
            .map(|c| c.name)
            .collect();
        if columns.is_empty() {
            continue;
        }
        // Identifiers come from the registry (constants), never from input.
        let sql = format!(
            "SELECT coalesce(json_agg(row_to_json(t)), '[]'::json)::text AS rows \
             FROM (SELECT {} FROM {} WHERE {condition} ORDER BY 1) AS t",
            columns.join(", "),
            table.name
        );
        let found: JsonRows = diesel::sql_query(sql)
            .bind::<SqlUuid, _>(person)
            .get_result(conn)
            .await?;
        out.insert(table.name, serde_json::from_str(&found.rows)?);
    }
    Ok(out)
}

const AUDIT_LOG: &str = "audit_events";

/// Erases `person` as the registry says: rows of `Delete` tables go, rows of `Anonymise` tables
/// stay with their personal columns nulled or replaced. Call inside a transaction.
pub async fn erase(conn: &mut AsyncPgConnection, person: AccountId) -> anyhow::Result<()> {
    // Children before parents: their owner conditions go through the parents' untouched rows.
    for table in REGISTRY.iter().rev() {
        let Some(condition) = owner_condition(table) else {
            continue;
        };
        if table.name == AUDIT_LOG {
            continue; // last, below
        }
        let sql = match table.rows {
            Rows::Delete => format!("DELETE FROM {} WHERE {condition}", table.name),
            Rows::Anonymise => {
                let assignments: Vec<String> = table
                    .columns
                    .iter()
                    .filter_map(|c| match c.erase {
                        Erase::Keep => None,
                        Erase::Null => Some(format!("{} = NULL", c.name)),
                        Erase::Replace(expression) => Some(format!("{} = {expression}", c.name)),
                    })
                    .collect();
                if assignments.is_empty() {
                    continue;
                }
                format!(
                    "UPDATE {} SET {} WHERE {condition}",
                    table.name,
                    assignments.join(", ")
                )
            }
            Rows::Untouched => continue,
        };
        diesel::sql_query(sql)
            .bind::<SqlUuid, _>(person)
            .execute(conn)
            .await?;
    }
    // Append-only to the service's role: the owner's function makes the registry's one change to
    // these rows (see `the_audit_log_is_erased_by_its_function_only`), and only once the account
    // row above says the person is erased.
    diesel::sql_query("SELECT audit_events_erase_subject($1)")
        .bind::<SqlUuid, _>(person)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::privacy::registry::{Erase, table};

    /// `audit_events_erase_subject` (migration 000006) nulls `reason` and nothing else: the
    /// registry must say the same.
    #[test]
    fn the_audit_log_is_erased_by_its_function_only() {
        let changed: Vec<(&str, Erase)> = table(super::AUDIT_LOG)
            .unwrap()
            .columns
            .iter()
            .filter(|c| c.erase != Erase::Keep)
            .map(|c| (c.name, c.erase))
            .collect();
        assert_eq!(changed, [("reason", Erase::Null)]);
    }
}
