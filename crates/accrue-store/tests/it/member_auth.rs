//! Member tokens on both backends, with a hand-set clock.

use crate::common::*;
use accrue_store::member_auth::{TokenKind, TokenOwner};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use accrue_store::StoreError;

on_both_backends!(
    tokens_expire_and_are_revoked,
    a_burst_of_sign_ins_claims_at_most_the_allowed_attempts,
    a_burst_of_console_sign_ins_checks_at_most_five_passwords,
);

async fn tokens_expire_and_are_revoked(db: TestDb) {
    let f = Fixture::new(db).await;
    let owner = TokenOwner {
        program_id: f.program,
        member_id: f.member().await,
    };
    let pair = f.store.issue_tokens(owner, 1_000, 60_000).await.unwrap();
    assert_eq!(
        f.store
            .token_owner(f.program, &pair.access, TokenKind::Access)
            .await
            .unwrap(),
        Some(owner)
    );
    assert_eq!(
        f.store
            .token_owner(f.program, &pair.access, TokenKind::Refresh)
            .await
            .unwrap(),
        None,
        "kinds do not mix"
    );
    f.set_time(T0 + 1_000);
    assert_eq!(
        f.store
            .token_owner(f.program, &pair.access, TokenKind::Access)
            .await
            .unwrap(),
        None,
        "expired"
    );
    let fresh = f
        .store
        .refresh_tokens(f.program, &pair.refresh, 1_000, 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        f.store
            .token_owner(f.program, &fresh.access, TokenKind::Access)
            .await
            .unwrap(),
        Some(owner)
    );
    f.store.revoke_token(&fresh.access).await.unwrap();
    assert_eq!(
        f.store
            .token_owner(f.program, &fresh.access, TokenKind::Access)
            .await
            .unwrap(),
        None,
        "revoked"
    );
    f.set_time(T0 + 61_001);
    assert_eq!(
        f.store
            .refresh_tokens(f.program, &fresh.refresh, 1_000, 60_000)
            .await
            .unwrap(),
        None,
        "refresh tokens expire too"
    );
}

/// The first burst of sign-ins meets no counter row yet: the claims must still queue on
/// one row, not each count from zero.
async fn a_burst_of_sign_ins_claims_at_most_the_allowed_attempts(db: TestDb) {
    let f = Fixture::new(db).await;
    let member = f.member().await;
    for round in 0..5 {
        f.store.clear_sign_in_failures(member).await.unwrap();
        let claims: Vec<_> = (0..40)
            .map(|_| {
                let store = f.store.clone();
                tokio::spawn(async move { store.claim_sign_in(member, 5, 60).await })
            })
            .collect();
        let mut claimed = 0;
        for claim in claims {
            claimed += usize::from(claim.await.unwrap().is_ok());
        }
        assert_eq!(claimed, 5, "round {round}: {claimed} attempts claimed; the limit is 5");
    }
}

/// Console sign-ins from many addresses at once: the operator's lock after five wrong
/// passwords holds for attempts that were already on their way.
async fn a_burst_of_console_sign_ins_checks_at_most_five_passwords(db: TestDb) {
    let f = Fixture::new(db).await;
    f.store
        .create_operator("ops".into(), "Ops".into(), "admin".into(), "hash".into())
        .await
        .unwrap();
    let attempts: Vec<_> = (0..30)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move { store.console_attempt("ops".into(), format!("10.0.0.{i}")).await })
        })
        .collect();
    let mut checked = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(Some(_)) => checked += 1,
            Err(StoreError::RateLimited { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        checked, 5,
        "{checked} passwords would be checked; the lock comes after 5"
    );
}
