//! Helpers shared by the store's behaviour suites.

use accrue_store::ledger::{IdempotencyKey, Lifetime, Movement, Receipt};
use accrue_store::testing::TestDb;
use accrue_store::{Clock, MemberFields, Store, StoreError, StoreOptions};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub const T0: i64 = 1_700_000_000_000;
pub const DAY: i64 = 86_400_000;

/// A store on `db` whose clock the test sets.
pub struct Fixture {
    pub store: Store,
    pub clock: Arc<AtomicI64>,
    pub program: i64,
    pub currency: i64,
    pub db: TestDb,
}

impl Fixture {
    pub async fn new(db: TestDb) -> Fixture {
        Fixture::on_connections(db, None).await
    }

    /// A fixture whose store keeps at most `connections` (PostgreSQL; `None`: the default).
    pub async fn on_connections(db: TestDb, connections: Option<u32>) -> Fixture {
        let clock = Arc::new(AtomicI64::new(T0));
        let options = StoreOptions {
            clock: Clock::Manual(clock.clone()),
            connections,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&db.url, options).await.expect("open store");
        let program = store.program("default").await.unwrap().id;
        let currency = store.currency(program, None).await.unwrap().id;
        Fixture {
            store,
            clock,
            program,
            currency,
            db,
        }
    }

    pub fn set_time(&self, t: i64) {
        self.clock.store(t, Ordering::SeqCst);
    }

    pub async fn member(&self) -> i64 {
        self.store
            .create_member(self.program, MemberFields::default())
            .await
            .unwrap()
            .id
    }

    pub fn movement(&self, member_id: i64, amount: i64) -> Movement {
        Movement {
            member_id,
            currency_id: self.currency,
            amount,
            card: None,
            description: String::new(),
            cause: Default::default(),
        }
    }

    pub async fn accrue(&self, member: i64, amount: i64, key: &str) -> Result<Receipt, StoreError> {
        self.accrue_with(member, amount, key, Lifetime::default()).await
    }

    pub async fn accrue_with(
        &self,
        member: i64,
        amount: i64,
        key: &str,
        life: Lifetime,
    ) -> Result<Receipt, StoreError> {
        let m = self.movement(member, amount);
        let key = key_for(key, &m);
        self.store.accrue(self.program, key, m, life).await.map(|r| r.0)
    }

    pub async fn withdraw(&self, member: i64, amount: i64, key: &str) -> Result<Receipt, StoreError> {
        let m = self.movement(member, amount);
        self.store
            .withdraw(self.program, key_for(key, &m), m)
            .await
            .map(|r| r.0)
    }

    pub async fn balance(&self, member: i64) -> accrue_store::ledger::Balance {
        self.store.balances(self.program, member).await.unwrap().remove(0)
    }

    /// How many of the member's lots still hold points, read straight from the database.
    pub async fn open_lots(&self, member: i64) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&self.db.url).await.expect("connect");
        let row = sqlx::query(
            "SELECT COUNT(*) FROM lots l JOIN accounts a ON a.id = l.account_id \
             WHERE a.member_id = $1 AND l.remaining > 0",
        )
        .bind(member)
        .fetch_one(&mut conn)
        .await
        .expect("count lots");
        sqlx::Row::get(&row, 0)
    }

    pub async fn assert_sound(&self) {
        let violations = self.store.check().await.unwrap();
        assert!(violations.is_empty(), "ledger invariants broken: {violations:?}");
    }
}

pub fn key_for(key: &str, m: &Movement) -> IdempotencyKey {
    IdempotencyKey::new(key, &serde_json::to_value(m).unwrap()).unwrap()
}
