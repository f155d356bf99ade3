//! Loymax's batch balance operations (original/loymax-api.html.txt, "API для пакетного
//! изменения балансов"): the document's example of each type replayed as written (its
//! currency and lifetime "string" exist), the answers and the refusals.

use super::{snapshot_scenarios, Call, Wire};
use crate::batch::{example, setup, BATCH};
use reqwest::Method;
use serde_json::json;

snapshot_scenarios!(batch_reference);

fn batch(key: &str, body: serde_json::Value) -> Call {
    Call::post(BATCH).token(key).json(body)
}

async fn batch_reference(mut w: Wire) -> Wire {
    let (key, _) = setup(&w.s).await;
    w.alias(&key, "{batch_key}");
    let currency = json!({"code": "string", "scale": 2});
    w.s.admin(Method::POST, "/admin/v1/programs/default/currencies", Some(currency))
        .await;
    let lifetime = json!({"name": "string", "expiry": {"type": "end_of_month", "months_after": 1}});
    w.s.admin(
        Method::PUT,
        "/admin/v1/programs/default/lifetimes/string",
        Some(lifetime),
    )
    .await;
    let exact = |kind: i64| {
        let mut body = example("123", kind);
        body["currencyExternalId"] = json!("string");
        body["lifeTimeDefinitionExternalId"] = json!("string");
        body
    };
    w.record("accrual_type_2", batch(&key, exact(2))).await;
    w.record("return_type_3_same_request_id", batch(&key, exact(3))).await;
    for (kind, id) in [(3, "124"), (4, "125"), (5, "126")] {
        let mut body = exact(kind);
        body["requestId"] = json!(id);
        w.record(&format!("type_{kind}"), batch(&key, body)).await;
    }
    w.record("replayed", batch(&key, exact(2))).await;
    let rows = json!([{"memberNo": "012345", "pointsAmount": 1}, {"memberNo": "404", "pointsAmount": 1},
                      {"memberNo": "012345", "pointsAmount": "x"}]);
    let by_row = json!({"requestId": "r", "type": 4, "mode": "row_by_row", "accrue": rows});
    w.record("row_by_row_with_refused_rows", batch(&key, by_row)).await;
    w.record("progress", Call::get(format!("{BATCH}/r")).token(&key)).await;
    w.record("rows", Call::get(format!("{BATCH}/r/rows?from=2&count=2")).token(&key))
        .await;
    let whole = json!({"requestId": "w", "type": 5, "accrue": [{"memberNo": "012345", "pointsAmount": 1000000}]});
    w.record("all_or_nothing_refused", batch(&key, whole)).await;
    w.record("unauthorized", batch("btk_wrong", exact(2))).await;
    w.record("malformed", batch(&key, json!({"requestId": "m", "type": 2})))
        .await;
    w.record("unknown_lifetime", {
        let mut body = exact(2);
        body["requestId"] = json!("l");
        body["lifeTimeDefinitionExternalId"] = json!("nope");
        batch(&key, body)
    })
    .await;
    let file = "memberNo,pointsAmount\n012345,1\n";
    let upload = Call::post(format!("{BATCH}/file?requestId=f&type=4")).token(&key);
    let (status, _) = w.send(upload.raw("text/csv", file)).await;
    assert_eq!(status, 202);
    crate::batch::done(&w.s, &key, "f").await;
    w.record("file_done", Call::get(format!("{BATCH}/f")).token(&key)).await;
    let broken = Call::post(format!("{BATCH}/file?requestId=g&type=4")).token(&key);
    w.record("file_refused", broken.raw("text/csv", "memberNo,points\n1,1\n"))
        .await;
    w
}
