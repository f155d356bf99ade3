//! Loymax's batch balance operations over real HTTP on both backends: the four types,
//! replays, row-by-row and all-or-nothing outcomes, files posted by the worker, lifetime
//! definitions, and a request sent eight times at once.

use accrue_server::testing::TestServer;
use accrue_store::member_history::{HistoryQuery, HistoryRow, Operation};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    four_types_post_and_replay,
    rows_post_on_their_own_or_not_at_all,
    files_are_posted_by_the_worker,
    lifetimes_set_when_points_expire,
    one_request_sent_eight_times_posts_once,
    members_are_told_once_before_points_expire,
    history_tells_types_and_activations,
);

pub(crate) const BATCH: &str = "/loytech.batchoperationsservice/api/batch";

/// The batch face set up (members found by card, then phone), with a member holding card
/// `012345`; the batch key and the member's id.
pub(crate) async fn setup(s: &TestServer) -> (String, i64) {
    let (status, made) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/batch",
            Some(json!({"member_no": ["card", "phone"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let key = made["key"].as_str().expect("the key is shown once").to_string();
    s.admin(
        Method::POST,
        "/admin/v1/cards/import",
        Some(json!({"numbers": ["012345"]})),
    )
    .await;
    let (_, member) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79161234567"})),
        )
        .await;
    let id = member["id"].as_i64().unwrap();
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{id}/cards"),
            Some(json!({"number": "012345"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (key, id)
}

pub(crate) async fn send(s: &TestServer, key: &str, body: &Value) -> (StatusCode, Value) {
    let request = s.client.post(format!("{}{BATCH}", s.base)).bearer_auth(key);
    accrue_server::testing::send(request, Some(body.clone())).await
}

/// The document's example of a type, with `request_id`.
pub(crate) fn example(request_id: &str, kind: i64) -> Value {
    let row = json!({"memberNo": "012345", "Description": "string", "operationDate": "2013-08-14 12:26:14",
                     "merchantName": " merchantName", "transactionAmount": 152246.54, "pointsAmount": 1522.46});
    json!({"requestId": request_id, "type": kind, "accrueDescription": "string",
           "accrue": [row.clone(), row.clone(), row]})
}

async fn balance(s: &TestServer, member: i64) -> String {
    let (_, b) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    b["items"][0]["balance"].as_str().unwrap_or("0").to_string()
}

async fn four_types_post_and_replay(db: TestDb) {
    let s = TestServer::start(db).await;
    let (key, member) = setup(&s).await;
    let done = |id: &str, kind: i64| json!({"requestId": id, "type": kind, "status": 0, "message": "Операция выполнена успешно"});
    assert_eq!(
        send(&s, &key, &example("123", 2)).await,
        (StatusCode::OK, done("123", 2))
    );
    assert_eq!(balance(&s, member).await, "4567.38");
    assert_eq!(
        send(&s, &key, &example("124", 3)).await,
        (StatusCode::OK, done("124", 3))
    );
    assert_eq!(
        send(&s, &key, &example("125", 4)).await,
        (StatusCode::OK, done("125", 4))
    );
    assert_eq!(
        send(&s, &key, &example("126", 5)).await,
        (StatusCode::OK, done("126", 5))
    );
    assert_eq!(balance(&s, member).await, "0.00");

    // The same request again answers the first answer and posts nothing.
    assert_eq!(
        send(&s, &key, &example("125", 4)).await,
        (StatusCode::OK, done("125", 4))
    );
    assert_eq!(balance(&s, member).await, "0.00");
    let (status, other) = send(&s, &key, &example("125", 2)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["status"], 1);

    // The history shows each row with its description, merchant and date; the types stay
    // apart in the requests kept.
    let query = HistoryQuery {
        member_id: member,
        kinds: Operation::KINDS.to_vec(),
        count: 20,
        ..Default::default()
    };
    let (total, rows) = s.store.member_history(1, &query).await.unwrap();
    assert_eq!(total, 12);
    let HistoryRow::Operation(op) = &rows[0] else {
        panic!("an operation")
    };
    assert_eq!(
        (op.description.as_str(), op.place.as_deref()),
        ("string", Some("merchantName"))
    );
    assert_eq!(
        op.occurred_at,
        Some(1_376_483_174_000),
        "2013-08-14 12:26:14 in the program's zone (UTC)"
    );
    let (_, kept) = s.admin(Method::GET, "/admin/v1/batch/requests", None).await;
    let kinds: Vec<i64> = kept["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_i64().unwrap())
        .collect();
    assert_eq!(kinds, [5, 4, 3, 2]);

    let (status, _) = send(&s, "btk_wrong", &example("127", 2)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, refused) = send(&s, &key, &json!({"requestId": "128", "type": 9, "accrue": []})).await;
    assert_eq!((status, refused["status"].clone()), (StatusCode::BAD_REQUEST, json!(1)));
    let unknown = json!({"requestId": "129", "type": 2, "currencyExternalId": "NOPE", "accrue": [{"memberNo": "012345", "pointsAmount": 1}]});
    assert_eq!(send(&s, &key, &unknown).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(balance(&s, member).await, "0.00", "refused requests change nothing");
}

async fn rows_post_on_their_own_or_not_at_all(db: TestDb) {
    let s = TestServer::start(db).await;
    let (key, member) = setup(&s).await;
    let rows = json!([
        {"memberNo": "012345", "pointsAmount": 10},
        {"memberNo": "+7 916 123-45-67", "pointsAmount": "5.5"},
        {"memberNo": "999", "pointsAmount": 1},
        {"memberNo": "012345", "pointsAmount": "много"},
    ]);
    let by_row = json!({"requestId": "r1", "type": 4, "mode": "row_by_row", "accrue": rows});
    let (status, answer) = send(&s, &key, &by_row).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (answer["status"].clone(), answer["message"].clone()),
        (json!(1), json!("Проведено строк: 2, не проведено: 2"))
    );
    assert_eq!(balance(&s, member).await, "15.50");
    let decided = outcomes(&s, &key, "r1").await;
    assert_eq!(decided, ["posted", "posted", "member_unknown", "bad_amount"]);

    // All or nothing: one row the balance does not cover refuses them all.
    let whole = json!({"requestId": "w1", "type": 5, "accrue": [
        {"memberNo": "012345", "pointsAmount": 10},
        {"memberNo": "012345", "pointsAmount": 10}]});
    let (_, answer) = send(&s, &key, &whole).await;
    assert_eq!(answer["status"], 1, "{answer}");
    assert_eq!(balance(&s, member).await, "15.50", "nothing posted");
    assert_eq!(outcomes(&s, &key, "w1").await, ["not_posted", "insufficient_points"]);
    let unknown = json!({"requestId": "w2", "type": 4, "accrue": [
        {"memberNo": "012345", "pointsAmount": 10}, {"memberNo": "nobody", "pointsAmount": 10}]});
    send(&s, &key, &unknown).await;
    assert_eq!(outcomes(&s, &key, "w2").await, ["not_posted", "member_unknown"]);
    assert_eq!(balance(&s, member).await, "15.50");

    // A row the wallet refuses after the row was read leaves nothing behind: not its
    // posting, not half of its balance moves.
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/currencies/BONUS/limits",
            Some(json!({"max_balance": "20.00"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let withdrawals = json!({"requestId": "r2", "type": 5, "mode": "row_by_row", "accrue": [
        {"memberNo": "012345", "pointsAmount": 100},
        {"memberNo": "012345", "pointsAmount": "0.5"}]});
    send(&s, &key, &withdrawals).await;
    assert_eq!(outcomes(&s, &key, "r2").await, ["insufficient_points", "posted"]);
    let accruals = json!({"requestId": "r3", "type": 4, "mode": "row_by_row", "accrue": [
        {"memberNo": "012345", "pointsAmount": 6},
        {"memberNo": "012345", "pointsAmount": 5}]});
    send(&s, &key, &accruals).await;
    assert_eq!(outcomes(&s, &key, "r3").await, ["bad_amount", "posted"]);
    assert_eq!(balance(&s, member).await, "20.00");
    let (_, history) = s
        .admin(
            Method::GET,
            &format!("/admin/v1/members/{member}/history?count=100"),
            None,
        )
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 4, "{history}");
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
}

async fn outcomes(s: &TestServer, key: &str, request_id: &str) -> Vec<String> {
    let url = format!("{}{BATCH}/{request_id}/rows", s.base);
    let (_, rows) = accrue_server::testing::send(s.client.get(url).bearer_auth(key), None).await;
    rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or("undecided").to_string())
        .collect()
}

/// Waits for a request to be done (a generous two minutes: the whole suite shares the
/// cores with it); its progress.
pub(crate) async fn done(s: &TestServer, key: &str, request_id: &str) -> Value {
    for _ in 0..2400 {
        let url = format!("{}{BATCH}/{request_id}", s.base);
        let (_, progress) = accrue_server::testing::send(s.client.get(url).bearer_auth(key), None).await;
        if progress["state"] == "done" {
            return progress;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("request {request_id} did not finish");
}

async fn upload(s: &TestServer, key: &str, query: &str, content_type: &str, body: String) -> (StatusCode, Value) {
    let request = s
        .client
        .post(format!("{}{BATCH}/file?{query}", s.base))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body);
    accrue_server::testing::send(request, None).await
}

async fn files_are_posted_by_the_worker(db: TestDb) {
    let s = TestServer::start(db).await;
    let (key, member) = setup(&s).await;
    let mut csv = String::from("memberNo,pointsAmount,description,merchantName\n");
    // Two kept chunks of the upload, twelve posted chunks of the worker.
    for i in 0..1200 {
        let who = if i % 400 == 399 { "unknown" } else { "012345" };
        csv.push_str(&format!("{who},1,\"Бонус, {i}\",Shop\n"));
    }
    let (status, progress) = upload(&s, &key, "requestId=f1&type=4", "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{progress}");
    assert_eq!(progress["totalRows"], 1200);
    let finished = done(&s, &key, "f1").await;
    assert_eq!(
        (finished["postedRows"].clone(), finished["failedRows"].clone()),
        (json!(1197), json!(3))
    );
    assert_eq!(finished["status"], 1);
    assert_eq!(balance(&s, member).await, "1197.00");
    let (status, again) = upload(&s, &key, "requestId=f1&type=4", "text/csv", csv).await;
    assert_eq!(
        (status, again["state"].clone()),
        (StatusCode::ACCEPTED, json!("done")),
        "a replay"
    );
    assert_eq!(balance(&s, member).await, "1197.00");

    let lines = "{\"memberNo\": \"012345\", \"pointsAmount\": 95}\n{\"memberNo\": \"012345\", \"pointsAmount\": 5}";
    let (status, _) = upload(&s, &key, "requestId=f2&type=5", "application/x-ndjson", lines.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(done(&s, &key, "f2").await["status"], 0);
    assert_eq!(balance(&s, member).await, "1097.00");

    let broken = "memberNo,pointsAmount\n012345,1\n\"012345,1\n";
    let (status, refused) = upload(&s, &key, "requestId=f3&type=4", "text/csv", broken.into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["message"].as_str().unwrap().starts_with("line 3"), "{refused}");
    let fixed = "memberNo,pointsAmount\n012345,1\n";
    let (status, _) = upload(&s, &key, "requestId=f3&type=4", "text/csv", fixed.into()).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "a refused file leaves its request id free"
    );
    done(&s, &key, "f3").await;
    assert_eq!(balance(&s, member).await, "1098.00");
}

async fn lifetimes_set_when_points_expire(db: TestDb) {
    let s = TestServer::start(db).await;
    let (key, member) = setup(&s).await;
    let year = json!({"name": "A year", "expiry": {"type": "after_days", "days": 365}, "is_default": true});
    let (status, _) = s
        .admin(Method::PUT, "/admin/v1/programs/default/lifetimes/YEAR", Some(year))
        .await;
    assert_eq!(status, StatusCode::OK);
    let month = json!({"name": "To the end of next month", "activation_delay_days": 1,
                       "expiry": {"type": "end_of_month", "months_after": 1}});
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/lifetimes/NEXT-MONTH",
        Some(month),
    )
    .await;
    let bad = json!({"name": "x", "expiry": {"type": "after_days", "days": 0}});
    assert_eq!(
        s.admin(Method::PUT, "/admin/v1/programs/default/lifetimes/BAD", Some(bad))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let row = json!([{"memberNo": "012345", "pointsAmount": 10}]);
    send(&s, &key, &json!({"requestId": "d", "type": 4, "accrue": row})).await;
    let named = json!({"requestId": "n", "type": 4, "lifeTimeDefinitionExternalId": "NEXT-MONTH", "accrue": row});
    send(&s, &key, &named).await;
    let missing = json!({"requestId": "m", "type": 4, "lifeTimeDefinitionExternalId": "NONE", "accrue": row});
    assert_eq!(send(&s, &key, &missing).await.0, StatusCode::BAD_REQUEST);

    let balances = s.store.balances(1, member).await.unwrap();
    let b = &balances[0];
    assert_eq!(b.not_activated, 1000, "the NEXT-MONTH points activate tomorrow");
    let year_later = s.store.now() + 365 * 86_400_000;
    assert!(
        b.expirations.iter().any(|e| (e.expires_at - year_later).abs() < 60_000),
        "{b:?}"
    );
    assert_eq!(b.expirations.len(), 2);

    // The admin API accrues under a definition too.
    let accrual = json!({"member_id": member, "amount": "1", "lifetime": "YEAR"});
    let request = s
        .client
        .post(format!("{}/admin/v1/operations/accrue", s.base))
        .bearer_auth(&s.admin_key)
        .header("Idempotency-Key", "life-1");
    let (status, receipt) = accrue_server::testing::send(request, Some(accrual)).await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    assert_eq!(s.store.balances(1, member).await.unwrap()[0].expirations.len(), 3);
}

async fn one_request_sent_eight_times_posts_once(db: TestDb) {
    let s = Arc::new(TestServer::start(db).await);
    let (key, member) = setup(&s).await;
    for mode in ["all_or_nothing", "row_by_row"] {
        let mut body = example(mode, 4);
        body["mode"] = json!(mode);
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (s, key, body) = (s.clone(), key.clone(), body.clone());
                tokio::spawn(async move { send(&s, &key, &body).await })
            })
            .collect();
        for call in calls {
            let (status, _) = call.await.unwrap();
            assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED, "{status}");
        }
        done(&s, &key, mode).await;
    }
    assert_eq!(
        balance(&s, member).await,
        "9134.76",
        "two requests of three rows, once each"
    );
}

async fn members_are_told_once_before_points_expire(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    clock.store(1_780_000_000_000, Ordering::SeqCst); // 2026-05-28 UTC
    let (key, _) = setup(&s).await;
    let settings = json!({"expiry_notice_days": 7, "utc_offset_minutes": 180});
    let (status, saved) = s
        .admin(Method::PUT, "/admin/v1/processing/settings", Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let ten_days = json!({"name": "Ten days", "expiry": {"type": "after_days", "days": 10}, "is_default": true});
    s.admin(Method::PUT, "/admin/v1/programs/default/lifetimes/TEN", Some(ten_days))
        .await;
    send(
        &s,
        &key,
        &json!({"requestId": "a", "type": 4, "accrue": [{"memberNo": "012345", "pointsAmount": 10}]}),
    )
    .await;
    assert_eq!(
        s.store.send_expiry_notices(100).await.unwrap(),
        0,
        "ten days away: not yet"
    );
    clock.fetch_add(4 * 86_400_000, Ordering::SeqCst);
    assert_eq!(s.store.send_expiry_notices(100).await.unwrap(), 1);
    assert_eq!(s.store.send_expiry_notices(100).await.unwrap(), 0, "told once");
    let (_, sms) = s.admin(Method::GET, "/admin/v1/outbox/messages?kind=sms", None).await;
    let texts: Vec<&str> = sms["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["payload"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["10.00 баллов сгорят 07.06.2026."]);
}

/// The member's Loymax history (v1.2, as the PHP SDK asks for it): `(type, description,
/// data.description, amount)` of each row, newest first.
async fn loymax_history(s: &TestServer) -> Vec<(String, String, String, f64)> {
    let (status, token) = s
        .token(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let (_, history) = accrue_server::testing::send(
        s.client
            .get(format!("{}/publicapi/v1.2/History?filter.count=50", s.base))
            .bearer_auth(token["access_token"].as_str().unwrap()),
        None,
    )
    .await;
    let text = |v: &Value| v.as_str().unwrap_or("null").to_string();
    history["data"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .iter()
        .map(|r| {
            let data = &r["data"];
            (
                text(&r["type"]),
                text(&r["description"]),
                text(&data["description"]),
                data["amount"]["amount"].as_f64().unwrap(),
            )
        })
        .collect()
}

async fn history_tells_types_and_activations(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let (key, member) = setup(&s).await;
    let password = json!({"password": "111111"});
    s.admin(
        Method::POST,
        &format!("/admin/v1/members/{member}/password"),
        Some(password),
    )
    .await;
    let tomorrow = json!({"name": "From tomorrow", "activation_delay_days": 1, "expiry": {"type": "never"}});
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/lifetimes/TOMORROW",
        Some(tomorrow),
    )
    .await;
    for (id, kind, points) in [("a", 2, 10), ("b", 4, 5), ("c", 3, 1), ("d", 5, 2)] {
        let mut request =
            json!({"requestId": id, "type": kind, "accrue": [{"memberNo": "012345", "pointsAmount": points}]});
        if kind == 2 {
            request["lifeTimeDefinitionExternalId"] = json!("TOMORROW");
        }
        assert_eq!(send(&s, &key, &request).await.0, StatusCode::OK, "{id}");
        clock.fetch_add(1000, Ordering::SeqCst);
    }
    let row = |kind: &str, description: &str, data: &str, amount: f64| {
        (kind.to_string(), description.to_string(), data.to_string(), amount)
    };
    // Each of the four types says itself in its data, whatever the row's own words.
    let posted = [
        row(
            "WithdrawData",
            "Ручное списание бонусов",
            "Ручное списание бонусов",
            -2.0,
        ),
        row("WithdrawData", "Возврат бонусов", "Возврат бонусов", -1.0),
        row(
            "RewardData",
            "Ручное начисление бонусов",
            "Ручное начисление бонусов",
            5.0,
        ),
        row("RewardData", "Начисление бонусов", "Начисление бонусов", 10.0),
    ];
    assert_eq!(loymax_history(&s).await, posted);

    clock.fetch_add(86_400_000, Ordering::SeqCst);
    let mut activated = vec![row("RewardData", "Активация бонусов", "Начисление бонусов", 10.0)];
    activated.extend(posted);
    assert_eq!(
        loymax_history(&s).await,
        activated,
        "the delayed points became spendable"
    );
    assert_eq!(balance(&s, member).await, "12.00");

    // Statistics keep the four types apart too.
    let (status, stats) = s.admin(Method::GET, "/admin/v1/batch/stats", None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let by_type: Vec<(i64, i64, &str)> = stats["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_i64().unwrap(),
                t["rows"].as_i64().unwrap(),
                t["points"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_type,
        [(2, 1, "10.00"), (3, 1, "1.00"), (4, 1, "5.00"), (5, 1, "2.00")]
    );
    let (_, later) = s
        .admin(Method::GET, "/admin/v1/batch/stats?from=2100-01-01T00:00:00Z", None)
        .await;
    assert_eq!(later["types"], json!([]));
}
