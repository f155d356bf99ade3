//! Ledger behaviour, the same on SQLite and PostgreSQL.

use crate::common::*;
use accrue_core::hold::{HoldError, HoldState};
use accrue_core::ledger::PostingKind;
use accrue_store::ledger::{HistoryQuery, Lifetime};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use accrue_store::{Dialect, StoreError};

on_both_backends!(
    accrual_and_withdrawal_move_the_balance,
    withdrawal_beyond_the_balance_changes_nothing,
    sixty_four_concurrent_withdrawals_of_one_from_ten,
    one_connection_serves_concurrent_calls,
    concurrent_withdrawals_sent_twice_each_post_once,
    idempotency_replays_and_rejects_conflicts,
    concurrent_repeats_of_one_key_post_once,
    repeats_that_could_not_run_again_replay,
    holds_capture_in_part_void_and_resolve_once,
    holds_expire_by_the_server_clock,
    lots_activate_late_expire_and_are_spent_oldest_first,
    lasting_accruals_share_one_lot,
    history_pages_newest_first_with_filters,
    check_finds_a_corrupted_database,
);

async fn accrual_and_withdrawal_move_the_balance(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    let r = f.accrue(m, 10_000, "a1").await.unwrap();
    assert_eq!((r.kind, r.amount, r.balance), (PostingKind::Accrual, 10_000, 10_000));
    let r = f.withdraw(m, 2_550, "w1").await.unwrap();
    assert_eq!((r.kind, r.balance), (PostingKind::Withdrawal, 7_450));
    let b = f.balance(m).await;
    assert_eq!((b.balance, b.available, b.held, b.not_activated), (7_450, 7_450, 0, 0));
    f.assert_sound().await;
}

async fn withdrawal_beyond_the_balance_changes_nothing(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    assert!(matches!(
        f.withdraw(m, 1, "w0").await,
        Err(StoreError::InsufficientBalance { available: 0 })
    ));
    f.accrue(m, 500, "a1").await.unwrap();
    assert!(matches!(
        f.withdraw(m, 501, "w1").await,
        Err(StoreError::InsufficientBalance { available: 500 })
    ));
    // The failed key was not consumed: the same key may be used again.
    assert_eq!(f.withdraw(m, 500, "w1").await.unwrap().balance, 0);
    let unknown = f.movement(999_999, 1);
    let err = f
        .store
        .withdraw(f.program, key_for("w2", &unknown), unknown)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("member")), "{err:?}");
    f.assert_sound().await;
}

async fn sixty_four_concurrent_withdrawals_of_one_from_ten(db: TestDb) {
    let f = std::sync::Arc::new(Fixture::new(db).await);
    let m = f.member().await;
    f.accrue(m, 10, "seed").await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move { f.withdraw(m, 1, &format!("w{i}")).await })
        })
        .collect();
    let (mut ok, mut insufficient) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::InsufficientBalance { .. }) => insufficient += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((ok, insufficient), (10, 54));
    assert_eq!(f.balance(m).await.balance, 0);
    f.assert_sound().await;
}

/// A store kept to one PostgreSQL connection serves concurrent calls one after another:
/// no call asks for a second connection while it holds one (that would wait forever).
async fn one_connection_serves_concurrent_calls(db: TestDb) {
    let f = std::sync::Arc::new(Fixture::on_connections(db, Some(1)).await);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                let m = f.member().await;
                f.accrue(m, 100, &format!("a{i}")).await?;
                f.withdraw(m, 30, &format!("w{i}")).await?;
                let query = HistoryQuery {
                    member_id: m,
                    count: 10,
                    ..Default::default()
                };
                let history = f.store.history(f.program, query).await?;
                Ok::<_, StoreError>((m, history.total))
            })
        })
        .collect();
    let calls = async {
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap().unwrap());
        }
        done
    };
    let done = tokio::time::timeout(std::time::Duration::from_secs(60), calls)
        .await
        .expect("a call waited for a second connection");
    for (m, entries) in done {
        assert_eq!((f.balance(m).await.balance, entries), (70, 2));
    }
    f.assert_sound().await;
}

async fn idempotency_replays_and_rejects_conflicts(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    let first = f
        .store
        .accrue(
            f.program,
            key_for("k", &f.movement(m, 100)),
            f.movement(m, 100),
            Lifetime::default(),
        )
        .await
        .unwrap();
    f.accrue(m, 5, "other").await.unwrap();
    let again = f
        .store
        .accrue(
            f.program,
            key_for("k", &f.movement(m, 100)),
            f.movement(m, 100),
            Lifetime::default(),
        )
        .await
        .unwrap();
    assert!(!first.1 && again.1, "the repeat is marked as a replay");
    assert_eq!(
        first.0, again.0,
        "the repeat returns the original receipt, balance included"
    );
    let err = f
        .store
        .accrue(
            f.program,
            key_for("k", &f.movement(m, 101)),
            f.movement(m, 101),
            Lifetime::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch));
    assert_eq!(f.balance(m).await.balance, 105);
    f.assert_sound().await;
}

async fn concurrent_repeats_of_one_key_post_once(db: TestDb) {
    let f = std::sync::Arc::new(Fixture::new(db).await);
    let m = f.member().await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { f.accrue(m, 7, "same").await })
        })
        .collect();
    let mut postings = std::collections::BTreeSet::new();
    for t in tasks {
        postings.insert(t.await.unwrap().unwrap().posting_id);
    }
    assert_eq!(postings.len(), 1);
    assert_eq!(f.balance(m).await.balance, 7);
    f.assert_sound().await;
}

/// Many withdrawals from one member at once, each sent twice at the same moment: on
/// PostgreSQL they run in batches (see `ledger/lanes.rs`), which a repeat's taken key
/// fails and runs again one by one. Each key posts once and both its answers agree.
async fn concurrent_withdrawals_sent_twice_each_post_once(db: TestDb) {
    let f = std::sync::Arc::new(Fixture::new(db).await);
    let m = f.member().await;
    f.accrue(m, 5_000, "seed").await.unwrap();
    let tasks: Vec<_> = (0..128)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move { f.withdraw(m, 1 + i % 64, &format!("w{}", i % 64)).await })
        })
        .collect();
    let mut receipts = std::collections::BTreeMap::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        receipts.entry(r.amount).or_insert_with(Vec::new).push(r);
    }
    assert_eq!(receipts.len(), 64);
    for (amount, both) in &receipts {
        assert_eq!(both.len(), 2, "withdrawal of {amount}");
        assert_eq!(both[0], both[1], "withdrawal of {amount}");
    }
    let posted: i64 = (1..=64).sum();
    assert_eq!(f.balance(m).await.balance, 5_000 - posted);
    let postings: std::collections::BTreeSet<i64> = receipts.values().map(|b| b[0].posting_id).collect();
    assert_eq!(postings.len(), 64);
    f.assert_sound().await;
}

/// A repeat runs the operation again before it finds the key taken: a withdrawal of the
/// whole balance would now fail, yet every repeat — one after the other and many at
/// once — answers the first receipt.
async fn repeats_that_could_not_run_again_replay(db: TestDb) {
    let f = std::sync::Arc::new(Fixture::new(db).await);
    let m = f.member().await;
    f.accrue(m, 50, "in").await.unwrap();
    let first = f.withdraw(m, 50, "all").await.unwrap();
    assert_eq!(f.withdraw(m, 50, "all").await.unwrap(), first);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { f.withdraw(m, 50, "all").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), first);
    }
    assert!(matches!(
        f.withdraw(m, 50, "again").await,
        Err(StoreError::InsufficientBalance { available: 0 })
    ));
    assert!(matches!(
        f.withdraw(m, 49, "all").await,
        Err(StoreError::IdempotencyMismatch)
    ));
    assert_eq!(f.balance(m).await.balance, 0);
    f.assert_sound().await;
}

async fn holds_capture_in_part_void_and_resolve_once(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    f.accrue(m, 1_000, "a").await.unwrap();
    let hold = |key: &'static str, amount| {
        let mv = f.movement(m, amount);
        f.store.hold(f.program, key_for(key, &mv), mv, T0 + DAY)
    };
    let h1 = hold("h1", 400).await.unwrap().0;
    let h1_id = h1.hold_id.unwrap();
    assert_eq!(h1.balance, 600);
    let b = f.balance(m).await;
    assert_eq!((b.balance, b.held), (600, 400));
    assert!(matches!(
        hold("h-too-much", 601).await,
        Err(StoreError::InsufficientBalance { available: 600 })
    ));

    let json = |v: serde_json::Value| accrue_store::ledger::IdempotencyKey::new("x", &v).unwrap();
    let capture = |key: &str, amount| {
        let k = accrue_store::ledger::IdempotencyKey {
            key: key.into(),
            ..json(serde_json::json!([h1_id, amount]))
        };
        f.store.capture(f.program, k, h1_id, amount)
    };
    assert!(matches!(
        capture("c0", Some(401)).await,
        Err(StoreError::Hold(HoldError::CaptureExceedsHold { .. }))
    ));
    let c = capture("c1", Some(150)).await.unwrap().0;
    assert_eq!(c.balance, 850, "the uncaptured 250 went back");
    assert!(matches!(
        capture("c2", None).await,
        Err(StoreError::Hold(HoldError::AlreadyResolved("captured")))
    ));
    let info = f.store.hold_info(f.program, h1_id).await.unwrap();
    assert_eq!((info.state, info.captured), (HoldState::Captured, 150));

    let h2 = hold("h2", 50).await.unwrap().0.hold_id.unwrap();
    let void_key = |k: &str| accrue_store::ledger::IdempotencyKey {
        key: k.into(),
        ..json(serde_json::json!(h2))
    };
    assert_eq!(
        f.store.void(f.program, void_key("v1"), h2).await.unwrap().0.balance,
        850
    );
    assert!(matches!(
        f.store.void(f.program, void_key("v2"), h2).await,
        Err(StoreError::Hold(HoldError::AlreadyResolved("voided")))
    ));
    let b = f.balance(m).await;
    assert_eq!((b.balance, b.available, b.held), (850, 850, 0));
    f.assert_sound().await;
}

async fn holds_expire_by_the_server_clock(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    f.accrue(m, 100, "a").await.unwrap();
    let mv = f.movement(m, 60);
    let h = f
        .store
        .hold(f.program, key_for("h", &mv), mv, T0 + 1_000)
        .await
        .unwrap()
        .0
        .hold_id
        .unwrap();
    assert_eq!(f.store.expire_due(100).await.unwrap().holds, 0, "not due yet");
    f.set_time(T0 + 1_000);
    let key = key_for("c", &f.movement(m, 1));
    assert!(matches!(
        f.store.capture(f.program, key, h, None).await,
        Err(StoreError::Hold(HoldError::Expired))
    ));
    assert_eq!(f.store.expire_due(100).await.unwrap().holds, 1);
    assert_eq!(f.store.expire_due(100).await.unwrap().holds, 0, "resolved once");
    assert_eq!(f.store.hold_info(f.program, h).await.unwrap().state, HoldState::Expired);
    assert_eq!(f.balance(m).await.balance, 100);
    f.assert_sound().await;
}

async fn lots_activate_late_expire_and_are_spent_oldest_first(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    let life = |activates_at, expires_at| Lifetime {
        activates_at,
        expires_at,
    };
    f.accrue_with(m, 100, "old", life(None, Some(T0 + 10 * DAY)))
        .await
        .unwrap();
    f.accrue_with(m, 50, "late", life(Some(T0 + 14 * DAY), Some(T0 + 40 * DAY)))
        .await
        .unwrap();
    f.accrue_with(m, 30, "forever", life(None, None)).await.unwrap();
    let b = f.balance(m).await;
    assert_eq!((b.balance, b.available, b.not_activated), (180, 130, 50));
    assert_eq!(b.expirations.len(), 2);
    assert!(matches!(
        f.withdraw(m, 131, "too-much").await,
        Err(StoreError::InsufficientBalance { available: 130 })
    ));
    // The oldest lot pays first: 40 of the 100 that expire on day 10 are left.
    f.withdraw(m, 60, "spend").await.unwrap();
    f.set_time(T0 + 10 * DAY);
    assert_eq!(f.store.expire_due(100).await.unwrap().lots, 1);
    let b = f.balance(m).await;
    assert_eq!((b.balance, b.available, b.not_activated), (80, 30, 50));
    f.set_time(T0 + 14 * DAY);
    assert_eq!(f.balance(m).await.available, 80);
    let history = f
        .store
        .history(
            f.program,
            HistoryQuery {
                member_id: m,
                kinds: vec![PostingKind::Expiry],
                count: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((history.total, history.items[0].amount), (1, -40));
    assert!(matches!(
        f.accrue_with(m, 1, "bad", life(None, Some(T0))).await,
        Err(StoreError::Invalid(_))
    ));
    f.assert_sound().await;
}

async fn lasting_accruals_share_one_lot(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    for i in 0..40 {
        f.accrue(m, 10, &format!("a{i}")).await.unwrap();
    }
    // Points that are active and never expire are alike: one lot holds them all.
    assert_eq!(f.open_lots(m).await, 1);
    let expiring = Lifetime {
        activates_at: None,
        expires_at: Some(T0 + DAY),
    };
    f.accrue_with(m, 5, "expiring", expiring).await.unwrap();
    assert_eq!(f.open_lots(m).await, 2);
    // The lasting lot was made first, so it pays first and the expiring one stays.
    f.withdraw(m, 400, "all-lasting").await.unwrap();
    assert_eq!(f.open_lots(m).await, 1);
    f.accrue(m, 7, "after").await.unwrap();
    assert_eq!(f.open_lots(m).await, 2);
    let b = f.balance(m).await;
    assert_eq!((b.balance, b.available), (12, 12));
    f.set_time(T0 + DAY);
    f.store.expire_due(100).await.unwrap();
    assert_eq!(f.balance(m).await.balance, 7);
    f.assert_sound().await;
}

async fn history_pages_newest_first_with_filters(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    for i in 0..5 {
        f.set_time(T0 + i * DAY);
        f.accrue(m, 10 + i, &format!("a{i}")).await.unwrap();
    }
    f.withdraw(m, 3, "w").await.unwrap();
    let q = |offset, count| HistoryQuery {
        member_id: m,
        offset,
        count,
        ..Default::default()
    };
    let page = f.store.history(f.program, q(0, 2)).await.unwrap();
    assert_eq!(page.total, 6);
    assert_eq!(page.items.iter().map(|i| i.amount).collect::<Vec<_>>(), vec![-3, 14]);
    let page = f.store.history(f.program, q(2, 10)).await.unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.amount).collect::<Vec<_>>(),
        vec![13, 12, 11, 10]
    );
    let ranged = HistoryQuery {
        from: Some(T0 + DAY),
        to: Some(T0 + 3 * DAY),
        kinds: vec![PostingKind::Accrual],
        ..q(0, 10)
    };
    let page = f.store.history(f.program, ranged).await.unwrap();
    assert_eq!(page.items.iter().map(|i| i.amount).collect::<Vec<_>>(), vec![12, 11]);
    let other = f.member().await;
    assert_eq!(
        f.store
            .history(
                f.program,
                HistoryQuery {
                    member_id: other,
                    ..q(0, 10)
                }
            )
            .await
            .unwrap()
            .total,
        0
    );
}

async fn check_finds_a_corrupted_database(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    f.accrue(m, 100, "a").await.unwrap();
    f.assert_sound().await;
    f.store
        .execute_unchecked("UPDATE balances SET balance = balance + 1 WHERE shard = 0")
        .await
        .unwrap();
    f.store
        .execute_unchecked("UPDATE entries SET amount = amount + 5 WHERE id = (SELECT MIN(id) FROM entries)")
        .await
        .unwrap();
    // SQLite refuses a lot of a posting that does not exist; PostgreSQL no longer checks.
    let orphan = f.store.dialect() == Dialect::Postgres;
    if orphan {
        f.store
            .execute_unchecked("UPDATE lots SET posting_id = -1")
            .await
            .unwrap();
    }
    let violations = f.store.check().await.unwrap();
    let names: Vec<&str> = violations.iter().map(|v| v.invariant).collect();
    assert!(
        names.contains(&"every posting's entries sum to zero per currency"),
        "{names:?}"
    );
    assert!(
        names.contains(&"every cached balance equals the sum of its account's entries"),
        "{names:?}"
    );
    assert!(
        names.contains(&"every wallet's balance equals what its lots hold"),
        "{names:?}"
    );
    assert_eq!(
        names.contains(&"every entry, lot and lot move belongs to a posting"),
        orphan,
        "{names:?}"
    );
}
