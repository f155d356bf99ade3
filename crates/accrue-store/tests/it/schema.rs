//! The two backends' migrations build the same schema: the same tables with the same
//! columns (types and indexes are each dialect's own).

use accrue_store::testing::TestDb;

#[tokio::test]
async fn sqlite_and_postgres_have_the_same_tables_and_columns() {
    let Some(postgres) = TestDb::postgres().await else {
        return;
    };
    let (sqlite, postgres) = (TestDb::sqlite().schema().await, postgres.schema().await);
    assert!(sqlite.len() > 30, "{} tables", sqlite.len());
    for (table, columns) in &sqlite {
        assert_eq!(Some(columns), postgres.get(table), "table {table}");
    }
    let only_postgres: Vec<&String> = postgres.keys().filter(|t| !sqlite.contains_key(*t)).collect();
    assert!(only_postgres.is_empty(), "only on PostgreSQL: {only_postgres:?}");
}
