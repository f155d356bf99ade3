//! The Integra face (original/integra-partner-api-v1.txt): every request the reference
//! shows, built as its PHP examples build them with the public guide's `SimpleCrypt`
//! stub (base64), replayed over HTTP; the answers and the refusals.

use super::{snapshot_scenarios, Call, Wire};
use crate::integra::{partner, url_encode, Caller, Partner};
use reqwest::Method;
use serde_json::{json, Value};

snapshot_scenarios!(integra_reference);

/// The user hash of the examples (the MD5 of "password", as a partner might make one).
const USER: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

fn call(p: &Partner, method: &str, who: &Caller, args: Value) -> Call {
    Call::get(format!(
        "/integra/{}/{method}?k={}",
        p.path,
        url_encode(&p.k(who, &args))
    ))
}

async fn integra_reference(mut w: Wire) -> Wire {
    let p = partner(&w.s, "acme", "base64", json!({})).await;
    w.alias(&p.hash, "{partner_hash}");
    let me = p.me();
    w.record("hello", call(&p, "hello", &me, json!({"name": "Dmitry"})))
        .await;

    let new_user = json!({"username": "acme-site.ru-11235813", "hash": USER, "email": "user@site.ru",
        "phone": "+79551234567", "suggestedDomain": "site.ru", "inviterUserId": "11235813"});
    let made = w
        .record("create_user", call(&p, "createUser", &me, new_user.clone()))
        .await;
    w.redact_last(".body.data.cryptKey", "[crypt_key]");
    let u = Caller {
        hash: USER.into(),
        key: made["data"]["cryptKey"].as_str().unwrap().into(),
    };
    w.record("create_user_hash_taken", call(&p, "createUser", &me, new_user))
        .await;
    let short = json!({"username": "acme-2", "hash": "1234"});
    w.record("create_user_short_hash", call(&p, "createUser", &me, short))
        .await;
    let nameless = json!({"hash": "0123456789abcdef0123456789abcdef"});
    w.record("create_user_invalid", call(&p, "createUser", &me, nameless))
        .await;

    let login = json!({"login": "acme-site.ru-11235813", "hash": USER,
        "paymentNotifyUrl": "https://payment.acme.com/payment-notify?amount={amount}&transaction_id={id}"});
    w.record("crypt_login_iframe", call(&p, "cryptLogin", &u, login.clone()))
        .await;
    w.redact_last(".headers.location", "[cabinet]");
    let post = Call::post(format!("/integra/acme/cryptLogin?k={}", url_encode(&p.k(&u, &login))));
    w.record("crypt_login_client", post.header("content-type", "application/json"))
        .await;
    w.redact_last(".body.data.url", "[cabinet]");

    let pay = json!({"paymentSum": "1000", "paymentSumBonus": "100", "paymentHash": "202cb962ac59075b964b07152d234b70",
        "userLogin": "acme-site.ru-11235813"});
    w.record("do_payment", call(&p, "doPayment", &u, pay.clone())).await;
    w.record("do_payment_replayed", call(&p, "doPayment", &u, pay)).await;
    let refund = json!({"paymentSum": "-250", "paymentHash": "d41d8cd98f00b204e9800998ecf8427e"});
    w.record("do_payment_refund", call(&p, "doPayment", &u, refund)).await;
    let too_much = json!({"paymentSum": "-5000", "paymentHash": "e4da3b7fbbce2345d7772b0674a318d5"});
    w.record("do_payment_insufficient", call(&p, "doPayment", &u, too_much))
        .await;

    // A top-up the user started in the cabinet, answered by the partner.
    let cabinet = crate::integra::cabinet(&w.s, &p, &u, json!({}), None).await;
    for amount in ["300", "75"] {
        let asked =
            w.s.client
                .post(format!("{cabinet}/go/payment"))
                .form(&[("amount", amount)])
                .send()
                .await;
        assert!(asked.unwrap().status().is_success());
    }
    let (_, payments) = w.s.admin(Method::GET, "/admin/v1/partners/acme/payments", None).await;
    let [declined, confirmed] = [0, 1].map(|i| payments["payments"][i]["reference"].as_str().unwrap().to_string());
    w.alias(&confirmed, "{transaction_id}");
    w.alias(&declined, "{other_transaction_id}");
    let confirm = json!({"amount": "300", "transactionId": confirmed});
    w.record("confirm_payment", call(&p, "confirmPayment", &u, confirm))
        .await;
    w.redact_last(".body.data.transactionId", "[transaction_id]");
    let decline = json!({"transactionId": declined, "errorCode": 1, "errorMessage": "no money", "errorLink": ""});
    w.record("decline_payment", call(&p, "declinePayment", &u, decline.clone()))
        .await;
    w.redact_last(".body.data.transactionId", "[transaction_id]");
    let confirm_declined = json!({"amount": "75", "transactionId": declined});
    w.record(
        "confirm_declined_payment",
        call(&p, "confirmPayment", &u, confirm_declined),
    )
    .await;

    let today = crate::integra::today();
    w.alias(&today, "{today}");
    w.record(
        "fin_summary",
        call(&p, "getFinSummaryByDate", &u, json!({"date": today})),
    )
    .await;
    w.redact_last(".body.data.date", "[today]");
    w.record(
        "fin_summary_bad_date",
        call(&p, "getFinSummaryByDate", &u, json!({"date": "03.12.2026"})),
    )
    .await;
    w.record("user_data", call(&p, "getUserData", &u, json!({"partner": p.hash})))
        .await;
    let all = json!({"partner": p.hash, "createdOn": "2026-12-03 06:00:00"});
    w.record("users_data", call(&p, "getUsersData", &me, all)).await;

    w.record(
        "user_messages",
        call(&p, "getUserMessages", &u, json!({"partner": p.hash})),
    )
    .await;
    w.record(
        "messages",
        call(&p, "getMessages", &me, json!({"partner": p.hash, "markRead": true})),
    )
    .await;
    w.record(
        "message_templates",
        call(&p, "getMessageTemplates", &me, json!({"partner": p.hash})),
    )
    .await;
    let read = Call::post(format!(
        "/integra/acme/readMessages?k={}",
        url_encode(&p.k(&me, &json!({})))
    ));
    w.record("read_messages", read.form(&[("ids", "1,2")])).await;

    w.record(
        "change_url",
        call(&p, "changeUrl", &u, json!({"url": "http://my-new-domain.com"})),
    )
    .await;
    let counter = json!({"counterId": "44147844", "accessToken": "AQAAAAAA"});
    w.record("attach_counter", call(&p, "attachYandexMetrikaCounter", &u, counter))
        .await;
    w.record("archive_user", call(&p, "archiveUser", &u, json!({"partner": p.hash})))
        .await;
    w.redact_last(".body.data.lastBillingDate", "[today]");
    w.record(
        "unarchive_user",
        call(&p, "unarchiveUser", &u, json!({"partner": p.hash})),
    )
    .await;

    w.record(
        "unknown_hash",
        Call::get(format!("/integra/acme/getUserData?k=zaa{}e30=", "f".repeat(32))),
    )
    .await;
    w.record(
        "wrong_prefix",
        Call::get(format!("/integra/acme/getUserData?k=zab{USER}e30=")),
    )
    .await;
    w.record(
        "unknown_partner",
        Call::get(format!("/integra/nobody/getUserData?k=zaa{USER}e30=")),
    )
    .await;
    w.record("unknown_method", call(&p, "doSomething", &u, json!({}))).await;
    w
}
