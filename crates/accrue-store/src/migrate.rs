//! Embedded migrations, one folder per backend, applied in order once each.

use crate::{Dialect, StoreError};
use sqlx::Executor;
use sqlx::{AnyPool, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init"),
    migration!(2, "0002_outbox"),
    migration!(3, "0003_member_auth"),
    migration!(4, "0004_registration"),
    migration!(5, "0005_questionnaire"),
    migration!(6, "0006_postings_by_member"),
    migration!(7, "0007_sign_in_failures"),
    migration!(8, "0008_notifications"),
    migration!(9, "0009_tracker"),
    migration!(10, "0010_processing"),
    migration!(11, "0011_purchase_records"),
    migration!(12, "0012_hardening"),
    migration!(13, "0013_service"),
    migration!(14, "0014_face_bindings"),
    migration!(15, "0015_merchant_profiles"),
    migration!(16, "0016_subscriptions"),
    migration!(17, "0017_coupons"),
    migration!(18, "0018_card_categories"),
    migration!(19, "0019_referrals"),
    migration!(20, "0020_integra"),
    migration!(21, "0021_batch"),
    migration!(22, "0022_events"),
    migration!(23, "0023_history"),
    migration!(24, "0024_console"),
    migration!(25, "0025_exports"),
    migration!(26, "0026_withdraw"),
    migration!(27, "0027_withdraw_each"),
    migration!(28, "0028_priced_cheque"),
    migration!(29, "0029_fewer_reference_checks"),
    migration!(30, "0030_pay"),
    migration!(31, "0031_confirm"),
    migration!(32, "0032_bonus"),
    migration!(33, "0033_members_of_program"),
    migration!(34, "0034_purchase_reference_checks"),
    migration!(35, "0035_fewer_purchase_statements"),
    migration!(36, "0036_open_purchases_index"),
];

/// A short hash of every PostgreSQL migration: databases migrated by the same code
/// have the same one (names the tests' template database).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn postgres_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for m in MIGRATIONS {
        hash.update(m.postgres.as_bytes());
    }
    hex::encode(&hash.finalize()[..6])
}

/// Serialises migrating servers that share one PostgreSQL database.
const PG_LOCK: i64 = 0x6163_6372_7565; // "accrue"

pub(crate) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(&mut conn, dialect).await;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(conn: &mut sqlx::AnyConnection, dialect: Dialect) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS accrue_migrations \
         (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM accrue_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        tx.execute(sql).await?;
        sqlx::query("INSERT INTO accrue_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}
