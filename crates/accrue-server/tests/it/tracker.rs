//! The affiliate tracker end to end over real HTTP: the Chatterfy document's postback
//! links replayed as written, the whole funnel, bad input, concurrency, forwarding.

use accrue_server::testing::{delivering_options, Receiver, TestServer};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    the_documents_links_replayed_as_written,
    ready_made_templates_give_ready_links,
    the_full_funnel_counts_once,
    bad_input_is_refused_and_counts_nothing,
    the_same_postback_fifty_times_at_once_counts_once,
    conversions_are_forwarded_and_announced,
    protection_secret_allowlist_and_rate_limit,
);

/// The seed document's integration id and host, replaced by ours.
const DOC_UUID: &str = "48d0524a-3abb-4cd5-82b8-404fa1cb4f7e";
const DOC_HOST: &str = "https://api.chatterfy.ai";

async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, value) = s.admin(method, path, body).await;
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

async fn integration(s: &TestServer, body: Value) -> Value {
    admin(s, Method::POST, "/admin/v1/tracker/integrations", Some(body)).await
}

async fn link(s: &TestServer, integration: &str, params: Value) -> Value {
    let body = json!({"integration": integration, "name": "Registration", "base_url": "https://partner.example/reg?code=X1", "params": params});
    admin(s, Method::POST, "/admin/v1/tracker/links", Some(body)).await
}

/// A click id issued by the admin API for `lead`.
async fn issue(s: &TestServer, link_id: i64, lead: &str) -> Value {
    admin(
        s,
        Method::POST,
        &format!("/admin/v1/tracker/links/{link_id}/render"),
        Some(json!({ "lead": lead })),
    )
    .await
}

/// GETs a URL (a postback link): status and JSON answer.
async fn get(s: &TestServer, url: &str) -> (StatusCode, Value) {
    let response = s.client.get(url).send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Replaces the document's host and integration id with this server's.
fn ours(doc_link: &str, s: &TestServer, uid: &str) -> String {
    doc_link.replace(DOC_HOST, &s.base).replace(DOC_UUID, uid)
}

async fn stats(s: &TestServer) -> Value {
    admin(s, Method::GET, "/admin/v1/tracker/stats", None).await
}

async fn the_documents_links_replayed_as_written(db: TestDb) {
    let s = TestServer::start(db).await;
    admin(
        &s,
        Method::PUT,
        "/admin/v1/tracker/fields/userid",
        Some(json!({"name": "User id"})),
    )
    .await;
    let i = integration(&s, json!({"name": "Custom", "click_param": "sub1"})).await;
    let uid = i["id"].as_str().unwrap();
    // The links Accrue shows are the document's, with our host and id.
    let links: Vec<&str> = i["postbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["link"].as_str().unwrap())
        .collect();
    let doc_base = format!("{DOC_HOST}/api/postbacks/{DOC_UUID}/tracker-postback");
    assert_eq!(
        links[0],
        ours(
            &format!("{doc_base}?tracker.event=registration&clickid={{sub1}}"),
            &s,
            uid
        )
    );
    assert_eq!(
        links[1],
        ours(
            &format!("{doc_base}?tracker.event=sale&clickid={{sub1}}&tracker.cost={{amount}}&tracker.currency=usd"),
            &s,
            uid
        )
    );
    assert_eq!(
        links[2],
        ours(
            &format!("{doc_base}?tracker.event=resale&clickid={{sub1}}&tracker.tid={{event_id}}"),
            &s,
            uid
        )
    );

    let l = link(&s, uid, json!([])).await;
    assert_eq!(
        l["final_url"],
        "https://partner.example/reg?code=X1&sub1={{tracker.clickid}}"
    );
    let click = issue(&s, l["id"].as_i64().unwrap(), "lead-1").await;
    let click_id = click["click_id"].as_str().unwrap().to_string();
    assert!(click["final_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("&sub1={click_id}")));

    // The document's links, as written, the partner's macros substituted.
    let partner = |link: &str| {
        ours(link, &s, uid)
            .replace("{sub1}", &click_id)
            .replace("clickid=sub1", &format!("clickid={click_id}"))
            .replace("{amount}", "76.5")
            .replace("{event_id}", "ev-1001")
            .replace("{user_id}", "u-777")
    };
    let registration =
        format!("{doc_base}?tracker.event=registration\\&clickid=sub1&fields.userid={{user_id}}").replace("\\&", "&");
    let written = [
        (registration.as_str(), "registration"),
        (
            &*format!("{doc_base}?tracker.event=sale&clickid={{sub1}}&tracker.cost={{amount}}&tracker.currency=usd"),
            "first_deposit",
        ),
        (
            &*format!("{doc_base}?tracker.event=resale&clickid={{sub1}}&tracker.tid={{event_id}}"),
            "repeat_deposit",
        ),
    ];
    for (doc_link, kind) in written {
        let (status, answer) = get(&s, &partner(doc_link)).await;
        assert_eq!(status, StatusCode::OK, "{doc_link}: {answer}");
        assert_eq!(answer["status"], "recorded", "{answer}");
        assert_eq!(answer["kind"], kind);
    }
    // The not-yet-transformed link the document shows first counts as the first deposit: already counted.
    let (status, answer) = get(
        &s,
        &partner(&format!("{doc_base}?tracker.event=first_deposit_&clickid={{sub1}}")),
    )
    .await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("duplicate")));

    let lead = admin(&s, Method::GET, "/admin/v1/tracker/leads/lead-1", None).await;
    assert_eq!(lead["lead"]["fields"]["userid"], "u-777");
    assert_eq!(lead["totals"]["first_deposits"]["sums"]["USD"], "76.50");
    assert_eq!(lead["clicks"][0]["conversions"].as_array().unwrap().len(), 3);
    assert_eq!(lead["clicks"][0]["conversions"][2]["tid"], "ev-1001");
}

async fn ready_made_templates_give_ready_links(db: TestDb) {
    let s = TestServer::start(db).await;
    let templates = admin(&s, Method::GET, "/admin/v1/tracker/templates", None).await;
    let codes: Vec<&str> = templates["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["1win", "pocket_option", "generic"]);
    // The integrator guide shows every shipped link exactly as the API gives it.
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/tracker.md")).unwrap();
    for template in templates["items"].as_array().unwrap() {
        for postback in template["postbacks"].as_array().unwrap() {
            let link = postback["link"]
                .as_str()
                .unwrap()
                .replace(&s.base, "https://accrue.example");
            assert!(guide.contains(&format!("`{link}`")), "docs/tracker.md lacks {link}");
        }
    }

    let openapi: Value = s
        .client
        .get(format!("{}/admin/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/admin/v1/tracker/integrations/{uid}",
        "/admin/v1/tracker/links/{id}/render",
        "/admin/v1/tracker/stats",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    let one_win = integration(&s, json!({"name": "1win", "template": "1win"})).await;
    assert_eq!(one_win["click_param"], "sub4");
    let uid = one_win["id"].as_str().unwrap();
    let l = link(&s, uid, json!([])).await;
    assert!(l["final_url"].as_str().unwrap().ends_with("&sub4={{tracker.clickid}}"));
    let click = issue(&s, l["id"].as_i64().unwrap(), "lead-1w").await["click_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, postback) in one_win["postbacks"].as_array().unwrap().iter().enumerate() {
        let link = postback["link"]
            .as_str()
            .unwrap()
            .replace("{sub4}", &click)
            .replace("{amount}", "10.00")
            .replace("{event_id}", "tx-9");
        let (status, answer) = get(&s, &link).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (StatusCode::OK, Some("recorded")),
            "{i}: {link}"
        );
    }

    // Pocket Option: the links carry only the event; the network appends click_id and the amount.
    let po = integration(&s, json!({"name": "PO", "template": "pocket_option"})).await;
    let uid = po["id"].as_str().unwrap();
    assert_eq!(po["custom_events"], json!(["conf"]));
    assert!(po["postbacks"][2]["link"]
        .as_str()
        .unwrap()
        .ends_with("tracker-postback?tracker.event=resale&currency=usd"));
    let l = link(&s, uid, json!([])).await;
    let click = issue(&s, l["id"].as_i64().unwrap(), "lead-po").await["click_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, postback) in po["postbacks"].as_array().unwrap().iter().enumerate() {
        let amount = if postback["event"] == "resale" { "&sum=50" } else { "" };
        let link = format!("{}&click_id={click}{amount}", postback["link"].as_str().unwrap());
        let (status, answer) = get(&s, &link).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (StatusCode::OK, Some("recorded")),
            "{i}: {answer}"
        );
    }
    let totals = &stats(&s).await["total"];
    assert_eq!(totals["registrations"], 2);
    assert_eq!(totals["custom_events"], 1);
    assert_eq!(totals["first_deposits"]["count"], 1);
    assert_eq!(totals["repeat_deposits"]["count"], 2);
    assert_eq!(totals["revenue"]["USD"], "70.00");
}

async fn the_full_funnel_counts_once(db: TestDb) {
    let s = TestServer::start(db).await;
    let i = integration(&s, json!({"name": "Net", "click_param": "sub1"})).await;
    let uid = i["id"].as_str().unwrap().to_string();
    let l = link(&s, &uid, json!([{"name": "lead", "value": "{{lead.id}}"}])).await;
    let rendered = issue(&s, l["id"].as_i64().unwrap(), "L-42").await;

    // The lead follows Accrue's redirect link; the visit is recorded on the issued click.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let visit = no_redirects
        .get(format!("{}&sub1=src-7", rendered["redirect_url"].as_str().unwrap()))
        .header("user-agent", "funnel-test")
        .header("referer", "https://chat.example/")
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), StatusCode::FOUND);
    let location = visit.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, rendered["final_url"].as_str().unwrap());
    assert!(location.starts_with("https://partner.example/reg?code=X1&lead=L-42&sub1="));
    let click_id = location.rsplit("sub1=").next().unwrap().to_string();

    let pb = format!("{}/api/postbacks/{uid}/tracker-postback?clickid={click_id}", s.base);
    let funnel = [
        format!("{pb}&tracker.event=registration"),
        format!("{pb}&tracker.event=sale&tracker.cost=100.00&tracker.currency=usd"),
        format!("{pb}&tracker.event=resale&tracker.cost=25.50&tracker.currency=USD&tracker.tid=e1"),
        format!("{pb}&tracker.event=sale&tracker.cost=30&tracker.currency=usd&tracker.tid=e2"),
    ];
    for url in &funnel {
        let (status, answer) = get(&s, url).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (StatusCode::OK, Some("recorded")),
            "{url}: {answer}"
        );
    }
    let check = |stats: &Value| {
        let t = &stats["total"];
        assert_eq!(t["clicks"], 1, "{stats}");
        assert_eq!(t["unique_leads"], 1);
        assert_eq!(t["registrations"], 1);
        assert_eq!(t["first_deposits"], json!({"count": 1, "sums": {"USD": "100.00"}}));
        assert_eq!(t["repeat_deposits"], json!({"count": 2, "sums": {"USD": "55.50"}}));
        assert_eq!(t["revenue"]["USD"], "155.50");
        assert_eq!(t["registration_rate"], 1.0);
        assert_eq!(stats["rows"].as_array().unwrap().len(), 1);
        assert_eq!(stats["rows"][0]["integration"], uid.as_str());
    };
    check(&stats(&s).await);
    // The same postbacks again (a network retrying): acknowledged, nothing changes.
    for url in &funnel {
        let (status, answer) = get(&s, url).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (StatusCode::OK, Some("duplicate")),
            "{url}"
        );
    }
    check(&stats(&s).await);

    // Revenue in the report currency at the operator's rates; CSV has the same figures.
    admin(
        &s,
        Method::PUT,
        "/admin/v1/tracker/exchange-rates",
        Some(json!({"report_currency": "EUR", "rates": {"USD": "0.9"}})),
    )
    .await;
    assert_eq!(stats(&s).await["total"]["revenue_in_report_currency"], "139.95");
    let csv = s
        .client
        .get(format!("{}/admin/v1/tracker/stats?format=csv", s.base))
        .bearer_auth(&s.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("day,integration,link_id,clicks,") && lines[0].ends_with("revenue_EUR"));
    assert!(
        lines[1].contains(&format!(",{uid},")) && lines[1].contains(",1,1,1,1,USD 100.00,2,USD 55.50,"),
        "{csv}"
    );

    let lead = admin(&s, Method::GET, "/admin/v1/tracker/leads/L-42", None).await;
    let click = &lead["clicks"][0];
    assert_eq!(click["user_agent"], "funnel-test");
    assert_eq!(click["referrer"], "https://chat.example/");
    assert_eq!(click["subs"]["sub1"], "src-7");
    assert_eq!(click["ip"], "127.0.0.1");
    assert_eq!(lead["totals"]["repeat_deposits"]["count"], 2);
    let log = admin(&s, Method::GET, "/admin/v1/tracker/postbacks?count=100", None).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 8);
    assert_eq!(log["items"][0]["outcome"], "duplicate");
    assert_eq!(
        log["items"][7]["raw"],
        format!("clickid={click_id}&tracker.event=registration")
    );

    // A new visit without a click id makes a new click of its own.
    let visit = no_redirects
        .get(format!("{}/t/{}?lead=L-43", s.base, l["slug"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), StatusCode::FOUND);
    assert!(!visit.headers()["location"].to_str().unwrap().ends_with(&click_id));
    assert_eq!(stats(&s).await["total"]["clicks"], 2);
}

async fn bad_input_is_refused_and_counts_nothing(db: TestDb) {
    let s = TestServer::start(db).await;
    let i = integration(&s, json!({"name": "Net", "click_param": "sub1"})).await;
    let uid = i["id"].as_str().unwrap().to_string();
    let l = link(&s, &uid, json!([])).await;
    let click = issue(&s, l["id"].as_i64().unwrap(), "L").await["click_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pb = format!("{}/api/postbacks/{uid}/tracker-postback", s.base);
    let cases = [
        (format!("{pb}?tracker.event=sale&clickid={click}&tracker.cost=12,50"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?tracker.event=sale&clickid={click}&tracker.cost={{amount}}"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?tracker.event=sale&clickid={click}&tracker.cost=-5"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?tracker.event=sale&clickid={click}&tracker.cost=5&tracker.currency=XYZ"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?tracker.event=sale&tracker.cost=5"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?clickid={click}"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?tracker.event=chargeback&clickid={click}"), StatusCode::BAD_REQUEST, "rejected"),
        (format!("{pb}?tracker.event=sale&clickid={click}&pad={}", "x".repeat(9000)), StatusCode::URI_TOO_LONG, "rejected"),
        (
            format!("{}/api/postbacks/00000000-0000-4000-8000-000000000000/tracker-postback?tracker.event=sale&clickid={click}", s.base),
            StatusCode::NOT_FOUND,
            "unknown_integration",
        ),
        (format!("{pb}?tracker.event=sale&clickid=nosuchclick&tracker.cost=5"), StatusCode::OK, "unknown_click"),
    ];
    for (url, status, outcome) in &cases {
        let (got, answer) = get(&s, url).await;
        assert_eq!(
            (got, answer["status"].as_str()),
            (*status, Some(*outcome)),
            "{}: {answer}",
            &url[..url.len().min(200)]
        );
        if *status != StatusCode::OK {
            assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
        }
    }
    // An undefined field is logged and ignored; the postback itself counts.
    let (status, answer) = get(
        &s,
        &format!("{pb}?tracker.event=registration&clickid={click}&fields.nope=1"),
    )
    .await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("recorded")));
    assert_eq!(answer["ignored_fields"], json!(["nope"]));

    let t = &stats(&s).await["total"];
    assert_eq!(
        (t["registrations"].as_i64(), t["first_deposits"]["count"].as_i64()),
        (Some(1), Some(0)),
        "{t}"
    );
    assert_eq!(t["revenue"], json!({}));
    let log = admin(&s, Method::GET, "/admin/v1/tracker/postbacks?count=100", None).await;
    let outcomes: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), cases.len() + 1);
    assert_eq!(outcomes.iter().filter(|o| **o == "rejected").count(), 8);
    assert!(outcomes.contains(&"unknown_integration") && outcomes.contains(&"unknown_click"));
    let ignored = &log["items"][0];
    assert_eq!(ignored["detail"], "ignored fields: nope");
    let filtered = admin(
        &s,
        Method::GET,
        "/admin/v1/tracker/postbacks?outcome=unknown_click",
        None,
    )
    .await;
    assert_eq!(filtered["items"][0]["click_id"], "nosuchclick");

    // Bad admin input: unknown template, bad link, unknown field on a lead.
    let (status, _) = s
        .admin(
            Method::POST,
            "/admin/v1/tracker/integrations",
            Some(json!({"name": "x", "template": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .admin(
            Method::POST,
            "/admin/v1/tracker/links",
            Some(json!({"integration": uid, "name": "x", "base_url": "ftp://x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/tracker/leads/L",
            Some(json!({"fields": {"nope": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn the_same_postback_fifty_times_at_once_counts_once(db: TestDb) {
    let s = TestServer::start(db).await;
    let i = integration(&s, json!({"name": "Net", "click_param": "sub1"})).await;
    let uid = i["id"].as_str().unwrap().to_string();
    let l = link(&s, &uid, json!([])).await;
    let click = issue(&s, l["id"].as_i64().unwrap(), "L").await["click_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pb = format!("{}/api/postbacks/{uid}/tracker-postback?clickid={click}", s.base);
    for url in [
        format!("{pb}&tracker.event=sale&tracker.cost=10&tracker.currency=usd"),
        format!("{pb}&tracker.event=resale&tracker.cost=5&tracker.currency=usd&tracker.tid=t-1"),
    ] {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let client = s.client.clone();
                let url = url.clone();
                tokio::spawn(async move {
                    let response = client.get(&url).send().await.unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    response.json::<Value>().await.unwrap()["status"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
            })
            .collect();
        let mut recorded = 0;
        for task in tasks {
            match task.await.unwrap().as_str() {
                "recorded" => recorded += 1,
                "duplicate" => {}
                other => panic!("unexpected outcome {other}"),
            }
        }
        assert_eq!(recorded, 1, "{url}");
    }
    let t = &stats(&s).await["total"];
    assert_eq!(t["first_deposits"], json!({"count": 1, "sums": {"USD": "10.00"}}));
    assert_eq!(t["repeat_deposits"], json!({"count": 1, "sums": {"USD": "5.00"}}));
}

async fn conversions_are_forwarded_and_announced(db: TestDb) {
    let s = TestServer::start_with(db, delivering_options(vec![1, 1])).await;
    let receiver = Receiver::start().await;
    admin(
        &s,
        Method::POST,
        "/admin/v1/webhook-endpoints",
        Some(json!({"url": format!("{}/hooks", receiver.base), "event_types": ["conversion.recorded"]})),
    )
    .await;
    let forward = format!(
        "{}/source?cid={{sub1}}&e={{event}}&sum={{amount}}&cur={{currency}}&tid={{tid}}",
        receiver.base
    );
    let i = integration(
        &s,
        json!({"name": "Net", "click_param": "sub1", "forward_url": forward}),
    )
    .await;
    let uid = i["id"].as_str().unwrap().to_string();
    let l = link(&s, &uid, json!([])).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let visit = no_redirects
        .get(format!(
            "{}/t/{}?lead=L&sub1=src%2042",
            s.base,
            l["slug"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let click = visit.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit("sub1=")
        .next()
        .unwrap()
        .to_string();
    let pb = format!("{}/api/postbacks/{uid}/tracker-postback?clickid={click}", s.base);
    get(
        &s,
        &format!("{pb}&tracker.event=sale&tracker.cost=76.5&tracker.currency=usd&tracker.tid=T 1"),
    )
    .await;
    get(
        &s,
        &format!("{pb}&tracker.event=sale&tracker.cost=76.5&tracker.currency=usd&tracker.tid=T 1"),
    )
    .await;
    let received = receiver.wait_for(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = if receiver.received().len() > received.len() {
        receiver.received()
    } else {
        received
    };
    assert_eq!(
        received.len(),
        2,
        "one forward and one webhook: the duplicate sends nothing"
    );
    let source = received.iter().find(|r| r.method == "GET").expect("forwarded postback");
    assert_eq!(source.uri, "/source?cid=src%2042&e=sale&sum=76.50&cur=USD&tid=T%201");
    let hook = received.iter().find(|r| r.method == "POST").expect("webhook");
    let event: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(event["type"], "conversion.recorded");
    assert_eq!(event["data"]["kind"], "first_deposit");
    assert_eq!(event["data"]["amount"], "76.50");
    assert_eq!(event["data"]["lead"], "L");
}

async fn protection_secret_allowlist_and_rate_limit(db: TestDb) {
    let s = TestServer::start(db).await;
    let i = integration(
        &s,
        json!({"name": "Net", "click_param": "sub1", "secret": true, "rate_limit_per_minute": 3}),
    )
    .await;
    let uid = i["id"].as_str().unwrap().to_string();
    assert_eq!(i["has_secret"], true);
    let link_with_secret = i["postbacks"][0]["link"].as_str().unwrap();
    let secret = link_with_secret.rsplit("&secret=").next().unwrap().to_string();
    assert!(secret.len() >= 16);
    let l = link(&s, &uid, json!([])).await;
    let click = issue(&s, l["id"].as_i64().unwrap(), "L").await["click_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pb = format!(
        "{}/api/postbacks/{uid}/tracker-postback?tracker.event=registration&clickid={click}",
        s.base
    );
    let (status, answer) = get(&s, &format!("{pb}&secret=wrong")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = get(&s, &pb).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A POST with the parameters in a form body.
    let response = s
        .client
        .post(format!("{}/api/postbacks/{uid}/tracker-postback", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("tracker.event=registration&clickid={click}&secret={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "recorded");
    // The fourth postback in a minute: 429 with Retry-After, and nothing written.
    let response = s.client.get(format!("{pb}&secret={secret}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let log = admin(&s, Method::GET, "/admin/v1/tracker/postbacks", None).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        log["items"][0]["raw"],
        format!("\ntracker.event=registration&clickid={click}&secret=***")
    );
    assert!(log["items"][2]["raw"].as_str().unwrap().ends_with("&secret=***"));

    // Source allowlist: only 10.0.0.0/8 may post, and the tests call from 127.0.0.1.
    let update = json!({"allowed_ips": ["10.0.0.0/8"], "secret": false, "rate_limit_per_minute": 100});
    admin(
        &s,
        Method::PATCH,
        &format!("/admin/v1/tracker/integrations/{uid}"),
        Some(update),
    )
    .await;
    let (status, answer) = get(&s, &pb).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{answer}"
    );
    admin(
        &s,
        Method::PATCH,
        &format!("/admin/v1/tracker/integrations/{uid}"),
        Some(json!({"allowed_ips": ["127.0.0.1"]})),
    )
    .await;
    let (status, answer) = get(&s, &pb).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "{answer}"
    );
    assert_eq!(stats(&s).await["total"]["registrations"], 1);
}
