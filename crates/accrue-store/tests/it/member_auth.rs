//! Member tokens on both backends, with a hand-set clock.

use crate::common::*;
use accrue_store::member_auth::{TokenKind, TokenOwner};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;

on_both_backends!(tokens_expire_and_are_revoked);

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
