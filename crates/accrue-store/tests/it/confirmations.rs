//! Confirmation codes on both backends, with a hand-set clock.

use crate::common::*;
use accrue_core::outbox::MessageKind;
use accrue_core::registration::{Channel, CodeRules};
use accrue_store::confirmations::{CodeError, SentCode};
use accrue_store::on_both_backends;
use accrue_store::outbox::MessageFilter;
use accrue_store::testing::TestDb;
use accrue_store::StoreError;

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
    assert_eq!(
        message.payload["text"], "Код подтверждения: {code}",
        "the code is not stored in clear"
    );
    let (payload, secrets) = message.open(f.store.sealer()).unwrap();
    assert_eq!(secrets.len(), 1);
    payload["text"]
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

on_both_backends!(
    resending_is_throttled_and_replaces_the_code,
    email_codes_go_by_email_and_channels_are_separate,
    codes_are_stored_salted_and_hashed,
    concurrent_wrong_entries_are_each_counted,
);

const PHONE: &str = "+79161234567";

async fn sms(f: &Fixture) -> Vec<accrue_store::outbox::Message> {
    let filter = MessageFilter {
        kind: Some(MessageKind::Sms),
        count: 10,
        ..Default::default()
    };
    f.store.messages(f.program, filter).await.unwrap()
}

async fn resending_is_throttled_and_replaces_the_code(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    let send = |target: &str| {
        f.store
            .send_code(f.program, m, Channel::Phone, target.to_string(), RULES)
    };
    let confirm = |code: &str| {
        let (store, program, code) = (f.store.clone(), f.program, code.to_string());
        async move { store.confirm_code(program, m, Channel::Phone, &code, RULES).await }
    };

    let sent = send(PHONE).await.unwrap();
    assert_eq!(
        sent,
        SentCode {
            target: PHONE.into(),
            expires_at: T0 + 300_000,
            length: 6
        }
    );
    assert_eq!(
        f.store.pending_target(m, Channel::Phone).await.unwrap().as_deref(),
        Some(PHONE)
    );
    let first = last_code(&f).await;
    assert_eq!(first.len(), 6);
    let queued = sms(&f).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].target, PHONE);
    let (payload, _) = queued[0].open(f.store.sealer()).unwrap();
    assert_eq!(payload["text"], format!("Код подтверждения: {first}"));

    f.set_time(T0 + 25_000);
    assert_eq!(
        code_error(send(PHONE).await.map(|s| s.target)),
        CodeError::TooSoon { seconds: 35 }
    );
    assert_eq!(sms(&f).await.len(), 1, "a refused send queues nothing");
    // The pause holds for the same number: a corrected one gets its code at once, and
    // the pause starts again for it.
    let sent = send("+79990000000").await.unwrap();
    assert_eq!(sent.expires_at, T0 + 325_000);
    f.set_time(T0 + 25_500);
    assert_eq!(
        code_error(send("+79990000000").await.map(|s| s.target)),
        CodeError::TooSoon { seconds: 60 }
    );
    assert_eq!(
        f.store.pending_target(m, Channel::Phone).await.unwrap().as_deref(),
        Some("+79990000000")
    );
    let second = last_code(&f).await;
    assert_eq!(sms(&f).await[0].target, "+79990000000");
    if first != second {
        assert_eq!(
            code_error(confirm(&first).await),
            CodeError::Wrong { attempts_left: 2 },
            "the earlier code no longer works"
        );
    }
    assert_eq!(confirm(&format!(" {second} ")).await.unwrap(), "+79990000000");
    assert_eq!(f.store.pending_target(m, Channel::Phone).await.unwrap(), None);

    // A used code does not lift the throttle: it counts from the send.
    f.set_time(T0 + 65_000);
    assert_eq!(
        code_error(send("+79990000000").await.map(|s| s.target)),
        CodeError::TooSoon { seconds: 20 }
    );
}

async fn email_codes_go_by_email_and_channels_are_separate(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    let rules = CodeRules { length: 4, ..RULES };
    f.store
        .send_code(f.program, m, Channel::Phone, PHONE.into(), RULES)
        .await
        .unwrap();
    let phone_code = last_code(&f).await;
    // The phone's throttle does not hold back the e-mail.
    let sent = f
        .store
        .send_code(f.program, m, Channel::Email, "ivan@example.com".into(), rules)
        .await
        .unwrap();
    assert_eq!(sent.length, 4);
    assert_eq!(sent.target, "ivan@example.com");
    let filter = MessageFilter {
        kind: Some(MessageKind::Email),
        count: 10,
        ..Default::default()
    };
    let mails = f.store.messages(f.program, filter).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].target, "ivan@example.com");
    let (payload, _) = mails[0].open(f.store.sealer()).unwrap();
    assert_eq!(payload["subject"], "Код подтверждения");
    let body = payload["body"].as_str().unwrap();
    let code = body.strip_prefix("Ваш код подтверждения: ").expect(body);
    assert_eq!(code.len(), 4);
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(sms(&f).await.len(), 1, "the e-mail code is not also sent by SMS");

    // Locking the phone leaves the e-mail alone.
    let wrong = if phone_code == "000000" { "111111" } else { "000000" };
    for _ in 0..RULES.max_attempts {
        let _ = f.store.confirm_code(f.program, m, Channel::Phone, wrong, RULES).await;
    }
    assert!(matches!(
        code_error(
            f.store
                .confirm_code(f.program, m, Channel::Phone, &phone_code, RULES)
                .await
        ),
        CodeError::Locked { .. }
    ));
    assert_eq!(
        f.store.pending_target(m, Channel::Email).await.unwrap().as_deref(),
        Some("ivan@example.com")
    );
    assert_eq!(
        f.store
            .confirm_code(f.program, m, Channel::Email, code, rules)
            .await
            .unwrap(),
        "ivan@example.com"
    );
    assert_eq!(f.store.pending_target(m, Channel::Email).await.unwrap(), None);
    assert_eq!(
        f.store.pending_target(m, Channel::Phone).await.unwrap(),
        None,
        "a lock voids the code"
    );

    // After the lock the old phone code stays void: only a new one works.
    f.set_time(T0 + 601_000);
    assert_eq!(
        code_error(
            f.store
                .confirm_code(f.program, m, Channel::Phone, &phone_code, RULES)
                .await
        ),
        CodeError::NotSent
    );
}

async fn codes_are_stored_salted_and_hashed(db: TestDb) {
    use sha2::{Digest, Sha256};
    use sqlx::{Connection, Row};
    let url = db.url.clone();
    let f = Fixture::new(db).await;
    let (a, b) = (f.member().await, f.member().await);
    for m in [a, b] {
        f.store
            .send_code(f.program, m, Channel::Phone, PHONE.into(), RULES)
            .await
            .unwrap();
    }
    let code_b = last_code(&f).await;
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT member_id, target, code_hash, salt FROM confirmation_codes ORDER BY member_id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let read = |i: usize| -> (String, String, String) {
        (
            rows[i].try_get(1).unwrap(),
            rows[i].try_get(2).unwrap(),
            rows[i].try_get(3).unwrap(),
        )
    };
    let (target, code_hash, salt) = read(1);
    assert_eq!(target, PHONE);
    assert_eq!(code_hash.len(), 64);
    assert!(code_hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(code_hash, code_b);
    assert_ne!(salt, code_b);
    assert_ne!(
        code_hash,
        hex::encode(Sha256::digest(code_b.as_bytes())),
        "the hash is salted"
    );
    let (_, other_hash, other_salt) = read(0);
    assert_ne!(salt, other_salt, "every code has its own salt");
    assert_ne!(code_hash, other_hash);
    let _ = conn.close().await;
}

async fn concurrent_wrong_entries_are_each_counted(db: TestDb) {
    let f = Fixture::new(db).await;
    let m = f.member().await;
    f.store
        .send_code(f.program, m, Channel::Phone, PHONE.into(), RULES)
        .await
        .unwrap();
    let code = last_code(&f).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, program) = (f.store.clone(), f.program);
            tokio::spawn(async move { store.confirm_code(program, m, Channel::Phone, wrong, RULES).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(code_error(task.await.unwrap()));
    }
    let wrongs: Vec<_> = outcomes
        .iter()
        .filter_map(|e| match e {
            CodeError::Wrong { attempts_left } => Some(*attempts_left),
            _ => None,
        })
        .collect();
    let mut sorted = wrongs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![1, 2], "each wrong entry counted once: {outcomes:?}");
    let locked = outcomes
        .iter()
        .filter(|e| matches!(e, CodeError::Locked { .. }))
        .count();
    assert_eq!(locked, 6, "{outcomes:?}");
    assert!(outcomes.contains(&CodeError::Locked { seconds: 600 }));
    assert!(matches!(
        code_error(f.store.confirm_code(f.program, m, Channel::Phone, &code, RULES).await),
        CodeError::Locked { .. }
    ));
}
