//! Fresh databases for tests: an SQLite file in a temporary directory, or a new
//! PostgreSQL database on the server named by `ACCRUE_TEST_POSTGRES_URL`.

use crate::Dialect;
use rand::Rng;
use sqlx::Connection;
use sqlx::Executor;

pub const POSTGRES_ENV: &str = "ACCRUE_TEST_POSTGRES_URL";

/// Runs each named `async fn(TestDb)` as two tests: on SQLite, and on PostgreSQL when
/// `ACCRUE_TEST_POSTGRES_URL` is set (otherwise that one says it skipped).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::testing::TestDb::sqlite()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

/// A database that exists as long as this value does.
pub struct TestDb {
    pub url: String,
    pub dialect: Dialect,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("accrue.db").display());
        TestDb {
            url,
            dialect: Dialect::Sqlite,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database, copied from a migrated template (made once per set of
    /// migrations), or `None` (and a note on stderr) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(POSTGRES_ENV) else {
            eprintln!("skipped: {POSTGRES_ENV} is not set, so the PostgreSQL variant of this test did not run");
            return None;
        };
        let name = format!("accrue_test_{:016x}", rand::thread_rng().gen::<u64>());
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {base}: {e}"));
        // Copies of one template are made one at a time: PostgreSQL refuses to copy a
        // database that another copy is reading.
        let template = migrated_template(&mut admin, &base).await;
        let copied = admin
            .execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str())
            .await;
        template_lock(&mut admin, "SELECT pg_advisory_unlock($1)").await;
        copied.expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&base, &name);
        Some(TestDb {
            url,
            dialect: Dialect::Postgres,
            _dir: None,
            postgres: Some((base, name)),
        })
    }

    /// Both backends: SQLite always, PostgreSQL when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres().await);
        dbs
    }
}

impl TestDb {
    /// Everything the database holds, as bytes to search: the SQLite files (database,
    /// journal and WAL) as they are on disk, or every row of every PostgreSQL table as
    /// text. For tests that look for secrets at rest.
    pub async fn contents(&self) -> Vec<u8> {
        if let Some(dir) = &self._dir {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(dir.path()).expect("database directory").flatten() {
                bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
            }
            return bytes;
        }
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("connect");
        let tables: Vec<String> =
            sqlx::query("SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'")
                .fetch_all(&mut conn)
                .await
                .expect("tables")
                .iter()
                .map(|r| sqlx::Row::get(r, 0))
                .collect();
        let mut text = String::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT CAST(t AS TEXT) FROM {table} t"))
                .fetch_all(&mut conn)
                .await
                .expect("rows");
            for row in rows {
                text.push_str(&sqlx::Row::get::<String, _>(&row, 0));
                text.push('\n');
            }
        }
        text.into_bytes()
    }
}

/// The rows a query of one text column answers, on the database at `url` (either
/// backend): for tests that compare what two paths wrote.
pub async fn text_rows(url: &str, sql: &str) -> Vec<String> {
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connect");
    let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("rows");
    rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 0)).collect()
}

/// Serialises test processes making the template.
const TEMPLATE_LOCK: i64 = 0x6163_6372_7565_7474; // "accruett"

/// The name of a database with every migration applied, made on first use (under
/// another name until it is complete, so that a process that died half-way leaves
/// nothing to copy). Templates of older migrations are dropped. Returns holding the
/// template lock; the caller releases it once its copy is made.
async fn migrated_template(admin: &mut sqlx::AnyConnection, base: &str) -> String {
    let name = format!("accrue_test_template_{}", crate::migrate::postgres_fingerprint());
    template_lock(admin, "SELECT pg_advisory_lock($1)").await;
    let existing: Vec<String> =
        sqlx::query("SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE 'accrue_test_template_%'")
            .fetch_all(&mut *admin)
            .await
            .expect("templates")
            .iter()
            .map(|r| sqlx::Row::get(r, 0))
            .collect();
    if !existing.contains(&name) {
        for stale in existing {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {stale} WITH (FORCE)").as_str())
                .await;
        }
        let building = format!("{name}_building");
        admin
            .execute(format!("CREATE DATABASE {building}").as_str())
            .await
            .expect("create the template");
        let store = crate::Store::open(&with_database(base, &building))
            .await
            .expect("migrate the template");
        store.close().await;
        // A closed pool's sessions may still be ending on the server's side.
        let ending = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{building}'");
        let _ = admin.execute(ending.as_str()).await;
        admin
            .execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str())
            .await
            .expect("name the template");
    }
    name
}

async fn template_lock(admin: &mut sqlx::AnyConnection, sql: &str) {
    sqlx::query(sql)
        .bind(TEMPLATE_LOCK)
        .execute(&mut *admin)
        .await
        .expect("the template lock");
}

impl TestDb {
    /// Every table of the migrated schema and its columns, sorted (migrations' own
    /// bookkeeping left out), to compare the backends.
    pub async fn schema(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let store = crate::Store::open(&self.url).await.expect("migrate");
        store.close().await;
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("connect");
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
            }
            Dialect::Postgres => {
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = 'public'"
            }
        };
        let mut tables = std::collections::BTreeMap::<String, Vec<String>>::new();
        for row in sqlx::query(sql).fetch_all(&mut conn).await.expect("schema") {
            let (table, column): (String, String) = (sqlx::Row::get(&row, 0), sqlx::Row::get(&row, 1));
            if table != "accrue_migrations" {
                tables.entry(table).or_default().push(column);
            }
        }
        tables.values_mut().for_each(|columns| columns.sort());
        tables
    }
}

fn with_database(base: &str, name: &str) -> String {
    let (head, query) = base.split_once('?').map_or((base, None), |(h, q)| (h, Some(q)));
    let root = match head.rfind('/') {
        Some(i) if i > "postgres://".len() => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code; a small runtime of its own removes the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::AnyConnection::connect(&base).await.ok()?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            super::with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h:5432", "t1"),
            "postgres://u@h:5432/t1"
        );
    }
}
