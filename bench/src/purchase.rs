//! `purchase`: one whole Loymax purchase per "request" — Calculate → Bonus/Payment →
//! Bonus → Confirm — by a till with a token for the member, members taken round-robin;
//! `hot_member_purchase`: the same with one member on every till. The notes give p50
//! and p99 of each call.

use super::{Api, Result};
use anyhow::Context;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Instant;

const STEPS: [&str; 4] = ["Calculate", "Bonus/Payment", "Bonus", "Confirm"];

pub struct Purchases {
    tokens: Vec<String>,
    micros: [Mutex<Vec<u32>>; 4],
}

/// The document's offer, a device, and `members` members with a card, a balance and a
/// device token each.
/// `series` keeps the merchants and cards of the two purchase scenarios of one run apart.
pub async fn setup(api: &Api, series: u8, members: usize) -> Result<Purchases> {
    let offer = json!({"name": "bench", "effects": [
        {"type": "discount_percent", "percent": 10, "target": "cheque"},
        {"type": "max_bonus_payment", "percent": 50, "target": "cheque"},
        {"type": "bonus_percent", "percent": 5, "target": "cheque"}]});
    let run = api.run_id;
    Api::expect_ok(
        api.http
            .put(format!("{}/admin/v1/offers/bench", api.base))
            .bearer_auth(&api.key)
            .json(&offer),
    )
    .await?;
    let merchant = format!("bench-{series}-{run}");
    Api::expect_ok(api.post("/admin/v1/merchants", &json!({"code": merchant, "name": "bench"}))).await?;
    let device = Api::expect_ok(api.post(
        &format!("/admin/v1/merchants/{merchant}/devices"),
        &json!({"name": "till"}),
    ))
    .await?;
    let client_id = device["client_id"].as_str().context("no client id")?.to_string();
    let secret = device["client_secret"].as_str().context("no secret")?.to_string();
    let mut tokens = Vec::with_capacity(members);
    for n in 0..members {
        let member = api.create_member().await?;
        let card = format!("9{series}{}{n:05}", run % 1_000_000_000);
        Api::expect_ok(api.post("/admin/v1/cards/import", &json!({"numbers": [card]}))).await?;
        Api::expect_ok(api.post(&format!("/admin/v1/members/{member}/cards"), &json!({"number": card}))).await?;
        // A purchase spends 10 and earns back 3.33: enough for one member on every till
        // for hours (1,000,000 lasted `hot_member_purchase` about 70 s here).
        api.accrue(member, "100000000.00").await?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("identifier", card.as_str()),
        ];
        let token = Api::expect_ok(
            api.http
                .post(format!("{}/authorizationService/token", api.base))
                .form(&form),
        )
        .await?;
        tokens.push(token["access_token"].as_str().context("no token")?.to_string());
    }
    Ok(Purchases {
        tokens,
        micros: Default::default(),
    })
}

fn body(operation_id: String, extra: Value) -> Value {
    let mut body = json!({"operationId": operation_id, "cheque": {"lines": [
        {"position": 1, "amount": 85, "discount": 15, "price": 100, "quantity": 1, "goodsId": "0036961"}]}});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    body
}

impl Purchases {
    /// One purchase; `Some(kind)` when a call failed or did not answer `Ok`.
    pub async fn run_once(&self, api: &Api) -> Option<String> {
        let n = api.next();
        let token = &self.tokens[n as usize % self.tokens.len()];
        let purchase = format!("/publicapi/v1.2/Processing/Purchases/{}-{n}", api.run_id);
        let extras = [json!({}), json!({"amount": 10}), json!({}), json!({})];
        let paths = ["/Calculate", "/Bonus/Payment", "/Bonus", "/Confirm"];
        for (step, (path, extra)) in paths.iter().zip(extras).enumerate() {
            let started = Instant::now();
            let request = api
                .http
                .post(format!("{}{purchase}{path}", api.base))
                .bearer_auth(token)
                .json(&body(format!("{}-{n}-{step}", api.run_id), extra));
            let answer: Value = match request.send().await {
                Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
                Ok(r) => return Some(format!("{} {}", STEPS[step], r.status())),
                Err(e) => return Some(super::transport_error(e)),
            };
            let code = answer["data"][0]["code"].as_str().unwrap_or("no code");
            if code != "Ok" {
                return Some(format!("{} {code}", STEPS[step]));
            }
            let took = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
            self.micros[step].lock().expect("samples").push(took);
        }
        None
    }

    pub fn notes(&self) -> Vec<String> {
        let per_call: Vec<String> = STEPS
            .iter()
            .zip(&self.micros)
            .map(|(name, samples)| {
                let mut s = samples.lock().expect("samples").clone();
                s.sort_unstable();
                let at = |q: f64| {
                    s.get(((s.len() as f64 * q) as usize).min(s.len().saturating_sub(1)))
                        .copied()
                };
                let ms = |v: Option<u32>| v.map_or(0.0, |v| v as f64 / 1000.0);
                format!("{name} p50 {:.1} ms p99 {:.1} ms", ms(at(0.5)), ms(at(0.99)))
            })
            .collect();
        vec![format!(
            "one row = one purchase of 4 calls; per call: {}",
            per_call.join(", ")
        )]
    }
}
