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

    /// A new database, or `None` (and a note on stderr) when no server is configured.
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
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
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
