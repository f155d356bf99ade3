//! Confirmation codes on both backends, with a hand-set clock.

mod common;

use accrue_core::outbox::MessageKind;
use accrue_core::registration::{Channel, CodeRules};
use accrue_store::confirmations::CodeError;
use accrue_store::on_both_backends;
use accrue_store::outbox::MessageFilter;
use accrue_store::testing::TestDb;
use accrue_store::StoreError;
use common::*;

on_both_backends!(codes_expire_lock_and_are_used_once);

const RULES: CodeRules = CodeRules {
    length: 6,
    ttl_seconds: 300,
    max_attempts: 3,
    resend_after_seconds: 60,
    lock_seconds: 600,
};

async fn last_code(f: &Fixture) -> String {
    let filter = MessageFilter {
        kind: Some(MessageKind::Sms),
        count: 1,
        ..Default::default()
    };
    let message = f.store.messages(f.program, filter).await.unwrap().remove(0);
    message.payload["text"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

fn code_error(result: Result<String, StoreError>) -> CodeError {
    match result {
        Err(StoreError::Code(e)) => e,
        other => panic!("expected a code error, got {other:?}"),
    }
}

async fn codes_expire_lock_and_are_used_once(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    let send = || {
        f.store
            .send_code(f.program, m, Channel::Phone, "+79161234567".into(), RULES)
    };
    let confirm = |code: String| {
        let (store, program) = (f.store.clone(), f.program);
        async move { store.confirm_code(program, m, Channel::Phone, &code, RULES).await }
    };
    assert_eq!(code_error(confirm("123456".into()).await), CodeError::NotSent);

    send().await.unwrap();
    let code = last_code(&f).await;
    assert!(matches!(
        send().await,
        Err(StoreError::Code(CodeError::TooSoon { seconds: 60 }))
    ));
    f.set_time(T0 + 301_000);
    assert_eq!(code_error(confirm(code).await), CodeError::Expired);

    send().await.unwrap();
    let code = last_code(&f).await;
    assert_eq!(confirm(code.clone()).await.unwrap(), "+79161234567");
    assert_eq!(code_error(confirm(code).await), CodeError::NotSent, "a code works once");

    f.set_time(T0 + 400_000);
    send().await.unwrap();
    let code = last_code(&f).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        code_error(confirm(wrong.into()).await),
        CodeError::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        code_error(confirm(wrong.into()).await),
        CodeError::Wrong { attempts_left: 1 }
    );
    assert_eq!(
        code_error(confirm(wrong.into()).await),
        CodeError::Locked { seconds: 600 }
    );
    assert!(matches!(code_error(confirm(code).await), CodeError::Locked { .. }));
    assert!(matches!(send().await, Err(StoreError::Code(CodeError::Locked { .. }))));
    f.set_time(T0 + 1_000_001);
    send().await.unwrap();
    assert_eq!(
        confirm(last_code(&f).await).await.unwrap(),
        "+79161234567",
        "after the lock a new code works"
    );
    assert_eq!(f.store.pending_target(m, Channel::Phone).await.unwrap(), None);
}
