use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mynorfolk::db;

use crate::helpers::database_server;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn migrations_applied_twice_in_parallel_both_succeed_once() {
    let server = database_server().await;
    let name = format!("migrate_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&server.admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();

    let url = server.url(&name);
    let (first, second) = tokio::join!(db::run_migrations(&url), db::run_migrations(&url));
    first.expect("first instance migrates");
    second.expect("second instance migrates");
    // A third run later finds nothing to do.
    db::run_migrations(&url).await.expect("re-run is a no-op");

    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let applied: Count = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations"),
        &mut conn,
    )
    .await
    .unwrap();
    assert_eq!(applied.n as usize, db::embedded_migration_count());
    assert!(applied.n >= 1);
    drop(conn);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
