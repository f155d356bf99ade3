//! Random sequences of ledger operations keep every invariant: entries balance per
//! currency, cached balances equal their entries, no wallet goes negative, each hold
//! resolves once, and the wallet equals the sum of its history.

use crate::common::*;
use accrue_core::hold::HoldError;
use accrue_store::ledger::{HistoryQuery, IdempotencyKey, Lifetime, Receipt};
use accrue_store::testing::TestDb;
use accrue_store::StoreError;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Accrue {
        member: usize,
        amount: i64,
        delay: Option<i64>,
        life: Option<i64>,
    },
    Withdraw {
        member: usize,
        amount: i64,
    },
    Hold {
        member: usize,
        amount: i64,
        ttl: i64,
    },
    Capture {
        hold: usize,
        amount: Option<i64>,
    },
    Void {
        hold: usize,
    },
    Advance {
        by: i64,
    },
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    let member = 0_usize..3;
    let amount = 1_i64..500;
    prop_oneof![
        3 => (member.clone(), amount.clone(), proptest::option::of(1_i64..5), proptest::option::of(1_i64..10))
            .prop_map(|(member, amount, delay, life)| Op::Accrue { member, amount, delay, life }),
        2 => (member.clone(), amount.clone()).prop_map(|(member, amount)| Op::Withdraw { member, amount }),
        2 => (member, amount.clone(), 1_i64..6).prop_map(|(member, amount, ttl)| Op::Hold { member, amount, ttl }),
        1 => (0_usize..8, proptest::option::of(amount)).prop_map(|(hold, amount)| Op::Capture { hold, amount }),
        1 => (0_usize..8).prop_map(|hold| Op::Void { hold }),
        1 => (1_i64..4).prop_map(|by| Op::Advance { by }),
        1 => Just(Op::Expire),
    ]
}

/// Errors a random operation may legitimately meet.
fn expected(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::InsufficientBalance { .. }
            | StoreError::Hold(
                HoldError::AlreadyResolved(_) | HoldError::Expired | HoldError::CaptureExceedsHold { .. }
            )
    )
}

/// Runs the operations and checks the invariants; what each operation answered (without
/// row ids, which the backends number differently) and each member's balance at the end.
async fn run(db: TestDb, ops: Vec<Op>) -> Vec<String> {
    let f = Fixture::new(db).await;
    let members = [f.member().await, f.member().await, f.member().await];
    let mut holds: Vec<i64> = Vec::new();
    let mut now = T0;
    let mut trace = Vec::new();
    let told = |r: Receipt| format!("{:?} {} -> {}", r.kind, r.amount, r.balance);
    for (i, op) in ops.into_iter().enumerate() {
        let key = |payload: serde_json::Value| IdempotencyKey::new(&format!("op{i}"), &payload).unwrap();
        let result: Result<String, StoreError> = match op {
            Op::Accrue {
                member,
                amount,
                delay,
                life,
            } => {
                let activates_at = delay.map(|d| now + d * DAY);
                let expires_at = life.map(|l| activates_at.unwrap_or(now) + l * DAY);
                f.accrue_with(
                    members[member],
                    amount,
                    &format!("op{i}"),
                    Lifetime {
                        activates_at,
                        expires_at,
                    },
                )
                .await
                .map(told)
            }
            Op::Withdraw { member, amount } => f.withdraw(members[member], amount, &format!("op{i}")).await.map(told),
            Op::Hold { member, amount, ttl } => {
                let m = f.movement(members[member], amount);
                let r = f
                    .store
                    .hold(f.program, key(serde_json::json!(i)), m, now + ttl * DAY)
                    .await;
                r.map(|(receipt, _)| {
                    holds.push(receipt.hold_id.unwrap());
                    told(receipt)
                })
            }
            Op::Capture { hold, amount } => match holds.get(hold) {
                Some(&h) => f
                    .store
                    .capture(f.program, key(serde_json::json!(i)), h, amount)
                    .await
                    .map(|(r, _)| told(r)),
                None => Ok(String::new()),
            },
            Op::Void { hold } => match holds.get(hold) {
                Some(&h) => f
                    .store
                    .void(f.program, key(serde_json::json!(i)), h)
                    .await
                    .map(|(r, _)| told(r)),
                None => Ok(String::new()),
            },
            Op::Advance { by } => {
                now += by * DAY;
                f.set_time(now);
                Ok(String::new())
            }
            Op::Expire => f.store.expire_due(1000).await.map(|r| format!("{r:?}")),
        };
        if let Err(e) = &result {
            assert!(expected(e), "operation {i} failed unexpectedly: {e:?}");
        }
        trace.push(format!("{result:?}"));
    }
    f.assert_sound().await;
    for m in members {
        let b = f.balance(m).await;
        trace.push(format!("{b:?}"));
        assert!(b.balance >= 0 && b.available >= 0 && b.available <= b.balance, "{b:?}");
        let history = f
            .store
            .history(
                f.program,
                HistoryQuery {
                    member_id: m,
                    count: 10_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            history.items.iter().map(|i| i.amount).sum::<i64>(),
            b.balance,
            "wallet equals its history"
        );
    }
    trace
}

fn cases(backend_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: backend_cases,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(24))]
    #[test]
    fn random_operations_keep_the_invariants_on_sqlite(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(run(TestDb::sqlite(), ops));
    }
}

proptest! {
    #![proptest_config(cases(8))]
    #[test]
    fn random_operations_keep_the_invariants_on_postgres(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            if let Some(db) = TestDb::postgres().await {
                run(db, ops).await;
            }
        });
    }
}

proptest! {
    #![proptest_config(cases(8))]
    /// PostgreSQL withdraws in one function call (migration 0026) where SQLite takes the
    /// general path's steps: both answer every operation alike and end with the same
    /// balances, lots by expiry and activation included.
    #[test]
    fn postgres_and_sqlite_answer_alike(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            if let Some(db) = TestDb::postgres().await {
                let on_postgres = run(db, ops.clone()).await;
                let on_sqlite = run(TestDb::sqlite(), ops).await;
                assert_eq!(on_postgres, on_sqlite);
            }
        });
    }
}
