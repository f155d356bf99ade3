//! The outbox, the same on SQLite and PostgreSQL: a message is committed with its
//! change or not at all, and claims never overlap.

use crate::common::*;
use accrue_core::outbox::{MessageKind, MessageState};
use accrue_store::on_both_backends;
use accrue_store::outbox::{Attempt, AttemptOutcome, MessageFilter, NewEndpoint, NewMessage};
use accrue_store::testing::TestDb;
use accrue_store::StoreError;

on_both_backends!(
    messages_are_committed_with_their_change,
    claims_never_overlap_and_leases_run_out
);

async fn subscribe(f: &Fixture, events: &[&str]) {
    let new = NewEndpoint {
        url: "https://example.com/hooks".into(),
        description: String::new(),
        event_types: events.iter().map(|e| e.to_string()).collect(),
        secret: "sealed".into(),
    };
    f.store.create_endpoint(f.program, new).await.unwrap();
}

async fn count(f: &Fixture, event: &str) -> usize {
    let filter = MessageFilter {
        event_type: Some(event.into()),
        count: 100,
        ..Default::default()
    };
    f.store.messages(f.program, filter).await.unwrap().len()
}

async fn messages_are_committed_with_their_change(db: TestDb) {
    let f = Fixture::new(db).await;
    subscribe(&f, &["points.accrued", "points.withdrawn", "member.registered"]).await;
    let m = f.member().await;
    assert_eq!(count(&f, "member.registered").await, 1);
    f.accrue(m, 100, "a").await.unwrap();
    assert_eq!(count(&f, "points.accrued").await, 1);
    // A refused withdrawal leaves no message behind; a replay adds none.
    assert!(matches!(
        f.withdraw(m, 101, "w").await,
        Err(StoreError::InsufficientBalance { .. })
    ));
    f.accrue(m, 100, "a").await.unwrap();
    assert_eq!(
        (count(&f, "points.withdrawn").await, count(&f, "points.accrued").await),
        (0, 1)
    );
    f.withdraw(m, 30, "w").await.unwrap();
    assert_eq!(count(&f, "points.withdrawn").await, 1);
    let bad = NewEndpoint {
        event_types: vec!["points.gifted".into()],
        ..endpoint_template()
    };
    assert!(matches!(
        f.store.create_endpoint(f.program, bad).await,
        Err(StoreError::Invalid(_))
    ));
}

fn endpoint_template() -> NewEndpoint {
    NewEndpoint {
        url: "https://example.com".into(),
        description: String::new(),
        event_types: vec![],
        secret: "s".into(),
    }
}

async fn claims_never_overlap_and_leases_run_out(db: TestDb) {
    let f = std::sync::Arc::new(Fixture::new(db).await);
    for i in 0..40 {
        let new = NewMessage::new(
            MessageKind::HttpGet,
            format!("https://example.com/{i}"),
            serde_json::json!({}),
        );
        f.store.enqueue_message(f.program, new).await.unwrap();
    }
    let lease = T0 + 60_000;
    let claims: Vec<_> = (0..4)
        .map(|w| {
            let f = f.clone();
            tokio::spawn(async move { f.store.claim_messages(&format!("w{w}"), 15, lease).await.unwrap() })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for claim in claims {
        for m in claim.await.unwrap() {
            assert!(seen.insert(m.id), "message {} claimed twice", m.id);
        }
    }
    assert_eq!(seen.len(), 40);
    let writes = || f.store.metrics().writes.load(std::sync::atomic::Ordering::SeqCst);
    let before = writes();
    assert!(
        f.store.claim_messages("late", 100, lease).await.unwrap().is_empty(),
        "all are leased"
    );
    assert_eq!(writes(), before, "a claim that finds nothing due writes nothing");
    // Only the holder of a claim may record its attempt.
    let first = *seen.iter().next().unwrap();
    let attempt = || Attempt {
        attempted_at: T0,
        status_code: Some(200),
        duration_ms: 1,
        response_body: None,
        error: None,
    };
    let holder = f
        .store
        .messages(
            f.program,
            MessageFilter {
                count: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(holder.len(), 40);
    assert!(!f
        .store
        .record_attempt(first, "intruder", attempt(), AttemptOutcome::Delivered, false)
        .await
        .unwrap());
    // After the lease, another worker may take them.
    f.set_time(lease);
    let retaken = f.store.claim_messages("next", 100, lease + 60_000).await.unwrap();
    assert_eq!(retaken.len(), 40);
    assert!(f
        .store
        .record_attempt(first, "next", attempt(), AttemptOutcome::Delivered, false)
        .await
        .unwrap());
    let delivered = MessageFilter {
        state: Some(MessageState::Delivered),
        count: 100,
        ..Default::default()
    };
    assert_eq!(f.store.messages(f.program, delivered).await.unwrap().len(), 1);
}
