//! The tracker face (original/chatterfy-tracker-integrations.md and
//! tracker-postback-conventions.md; the answers themselves are Accrue's, docs/tracker.md):
//! the redirect of a registration link, the document's postback links replayed, and
//! every refusal.

use super::{snapshot_scenarios, Call, Wire};
use reqwest::Method;
use serde_json::{json, Value};

snapshot_scenarios!(postbacks_as_documented, postbacks_refused, postback_protection);

/// An integration (`settings` added to a custom one on `sub1`), a registration link and
/// a click of lead `lead-1` through the short link; the integration id and click id.
async fn integration_and_click(w: &mut Wire, settings: Value) -> (Value, String) {
    let mut body = json!({"name": "My network", "click_param": "sub1"});
    body.as_object_mut()
        .expect("object")
        .extend(settings.as_object().expect("object").clone());
    let (status, integration) =
        w.s.admin(Method::POST, "/admin/v1/tracker/integrations", Some(body))
            .await;
    assert_eq!(status, 201, "{integration}");
    let uid = integration["id"].as_str().expect("integration id").to_string();
    w.alias(&uid, "{integration}");
    let link = json!({"integration": uid, "name": "Registration",
                      "base_url": "https://pocketcustomer.com/register?utm_campaign=764984&code=JOINHERE123"});
    let (status, link) = w.s.admin(Method::POST, "/admin/v1/tracker/links", Some(link)).await;
    assert_eq!(status, 201, "{link}");
    let slug = link["slug"].as_str().expect("slug").to_string();
    w.alias(&slug, "{slug}");
    let (status, click) = w.send(Call::get(format!("/t/{slug}?lead=lead-1&sub1=source-7"))).await;
    assert_eq!(status, 302, "{click}");
    let (_, lead) = w.s.admin(Method::GET, "/admin/v1/tracker/leads/lead-1", None).await;
    let click_id = lead["clicks"][0]["click_id"].as_str().expect("click id").to_string();
    w.alias(&click_id, "{click}");
    (integration, click_id)
}

fn postback(uid: &str, query: &str) -> Call {
    Call::get(format!("/api/postbacks/{uid}/tracker-postback?{query}"))
}

async fn postbacks_as_documented(mut w: Wire) -> Wire {
    let field = json!({"name": "User id"});
    w.s.admin(Method::PUT, "/admin/v1/tracker/fields/userid", Some(field))
        .await;
    let (integration, click) = integration_and_click(&mut w, json!({})).await;
    let uid = integration["id"].as_str().expect("id").to_string();
    let (_, link) = w.s.admin(Method::GET, "/admin/v1/tracker/links/1", None).await;
    let slug = link["slug"].as_str().expect("slug").to_string();
    w.record("redirect", Call::get(format!("/t/{slug}?lead=lead-2"))).await;
    // The document's links with the partner's macros filled in.
    let registration = format!("tracker.event=registration&clickid={click}&fields.userid=u-777");
    w.record("registration", postback(&uid, &registration)).await;
    let sale = format!("tracker.event=sale&clickid={click}&tracker.cost=76.5&tracker.currency=usd");
    w.record("sale", postback(&uid, &sale)).await;
    let resale = format!("tracker.event=resale&clickid={click}&tracker.tid=ev-1001&tracker.cost=10");
    w.record("resale", postback(&uid, &resale)).await;
    w.record("resale_repeated", postback(&uid, &resale)).await;
    let custom = format!("tracker.event=registration&clickid={click}&fields.nope=1");
    w.record("registration_repeated_with_unknown_field", postback(&uid, &custom))
        .await;
    let form = Call::post(format!("/api/postbacks/{uid}/tracker-postback")).form(&[
        ("tracker.event", "resale"),
        ("clickid", &click),
        ("tracker.tid", "ev-1002"),
        ("amount", "5"),
    ]);
    w.record("resale_in_a_form", form).await;
    w
}

async fn postbacks_refused(mut w: Wire) -> Wire {
    let (integration, click) = integration_and_click(&mut w, json!({})).await;
    let uid = integration["id"].as_str().expect("id").to_string();
    for (name, query) in [
        (
            "comma_amount",
            format!("tracker.event=sale&clickid={click}&tracker.cost=12,50"),
        ),
        (
            "unfilled_macro",
            format!("tracker.event=sale&clickid={click}&tracker.cost={{amount}}"),
        ),
        (
            "negative_amount",
            format!("tracker.event=sale&clickid={click}&tracker.cost=-5"),
        ),
        (
            "unknown_currency",
            format!("tracker.event=sale&clickid={click}&tracker.cost=5&tracker.currency=XYZ"),
        ),
        ("no_click", "tracker.event=sale&tracker.cost=5".to_string()),
        ("no_event", format!("clickid={click}")),
        ("unknown_event", format!("tracker.event=chargeback&clickid={click}")),
        (
            "unknown_click",
            "tracker.event=sale&clickid=nosuchclick&tracker.cost=5".to_string(),
        ),
    ] {
        w.record(name, postback(&uid, &query)).await;
    }
    let long = format!("tracker.event=sale&clickid={click}&pad={}", "x".repeat(9000));
    w.alias(&"x".repeat(9000), "x…");
    w.record("query_too_long", postback(&uid, &long)).await;
    let nobody = "00000000-0000-4000-8000-000000000000";
    let query = format!("tracker.event=sale&clickid={click}");
    w.record("unknown_integration", postback(nobody, &query)).await;
    w.record("unknown_path", Call::get(format!("/api/postbacks/{uid}/elsewhere")))
        .await;
    let put = Call::new(Method::PUT, format!("/api/postbacks/{uid}/tracker-postback?{query}"));
    w.record("wrong_method", put).await;
    w.record("unknown_link", Call::get("/t/nosuchlink?lead=x")).await;
    w
}

async fn postback_protection(mut w: Wire) -> Wire {
    let settings = json!({"secret": "a-shared-secret-of-24-ch", "rate_limit_per_minute": 3});
    let (integration, click) = integration_and_click(&mut w, settings).await;
    let uid = integration["id"].as_str().expect("id").to_string();
    let query = format!("tracker.event=registration&clickid={click}");
    w.record("wrong_secret", postback(&uid, &format!("{query}&secret=wrong")))
        .await;
    w.record("no_secret", postback(&uid, &query)).await;
    let right = format!("{query}&secret=a-shared-secret-of-24-ch");
    w.alias("a-shared-secret-of-24-ch", "{secret}");
    w.record("recorded_with_secret", postback(&uid, &right)).await;
    // The fourth postback of the minute (refused ones count).
    w.record("over_the_rate_limit", postback(&uid, &right)).await;
    let wait: u64 = w.last_header("retry-after").parse().expect("seconds");
    assert!((1..=20).contains(&wait), "3 a minute: a token every 20 s, not {wait}");
    let update = json!({"allowed_ips": ["10.0.0.0/8"], "secret": false, "rate_limit_per_minute": 100});
    let path = format!("/admin/v1/tracker/integrations/{uid}");
    w.s.admin(Method::PATCH, &path, Some(update)).await;
    w.record("address_not_allowed", postback(&uid, &query)).await;
    w
}
