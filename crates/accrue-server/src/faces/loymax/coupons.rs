//! The member's coupons: `Coupons` (filtered and paged) and `Coupons/number/{number}`.
//! The operator issues them (admin API); the member shows one at the till, where the
//! offers naming its series apply, and Confirm uses it up.

use super::auth::Member;
use super::envelope::Answer;
use super::query::{dates_between, list, page, param, PLAIN};
use super::user::guid;
use crate::format::time;
use crate::AppState;
use accrue_store::coupons::{Coupon, CouponState};
use accrue_store::StoreError;
use axum::extract::{Path, Query, State};
use serde_json::{json, Value};

const NOT_FOUND: &str = "Купон не найден или принадлежит другому клиенту.";
/// The states clients may filter by (Accrue's coupons are never in the last three).
const STATES: [&str; 7] = [
    "Issued",
    "Used",
    "Rejected",
    "Expired",
    "Created",
    "QueuedToUse",
    "QueuedToIssue",
];

fn state_name(s: CouponState) -> &'static str {
    match s {
        CouponState::Issued => "Issued",
        CouponState::Used => "Used",
        CouponState::Rejected => "Rejected",
        CouponState::Expired => "Expired",
    }
}

fn coupon_json(c: &Coupon) -> Value {
    json!({
        "id": c.id,
        "code": c.number,
        "qrContent": c.number,
        "createDate": time(c.issued_at),
        "updateDate": time(c.changed_at),
        "activationDate": time(c.issued_at),
        "expiryDate": c.expires_at.map(time),
        "couponState": state_name(c.state),
        "emissionTitle": c.series.title,
        "emissionId": c.series.id,
        "emissionUid": guid(c.series.id),
        "shortDescription": c.series.short_description,
        "description": c.series.description,
        "imageFile": null,
    })
}

/// What `couponListFilter.*` keeps.
struct Filter<'a> {
    series: Vec<&'a str>,
    states: Vec<&'a str>,
    changed_from: Option<i64>,
    changed_to: Option<i64>,
    number: Option<&'a str>,
}

impl Filter<'_> {
    fn keeps(&self, c: &Coupon) -> bool {
        (self.series.is_empty() || self.series.contains(&c.series.id.to_string().as_str()))
            && (self.states.is_empty() || self.states.iter().any(|s| s.eq_ignore_ascii_case(state_name(c.state))))
            && self.changed_from.is_none_or(|from| c.changed_at >= from)
            && self.changed_to.is_none_or(|to| c.changed_at <= to)
            && self.number.is_none_or(|n| n == c.number)
    }
}

pub async fn list_mine(State(state): State<AppState>, m: Member, Query(pairs): Query<Vec<(String, String)>>) -> Answer {
    let v = m.version;
    let dates = dates_between(
        &pairs,
        "couponListFilter.changedStateDateFrom",
        "couponListFilter.changedStateDateTo",
    );
    let (changed_from, changed_to) = match dates {
        Ok(range) => range,
        Err(key) => return Answer::invalid(v, key, "Неверный формат даты."),
    };
    let states = list(&pairs, "couponListFilter.couponStates");
    if let Some(bad) = states
        .iter()
        .find(|s| !STATES.iter().any(|k| k.eq_ignore_ascii_case(s)))
    {
        return Answer::invalid(
            v,
            "couponListFilter.couponStates",
            format!("Неизвестное состояние {bad}."),
        );
    }
    let filter = Filter {
        series: list(&pairs, "couponListFilter.emissionIds"),
        states,
        changed_from,
        changed_to,
        number: param(&pairs, "couponListFilter.couponNumber"),
    };
    let (from, count) = match page(&pairs, PLAIN) {
        Ok(page) => page,
        Err((key, e)) => return Answer::invalid(v, key, e),
    };
    match state.store.member_coupons(m.owner.program_id, m.owner.member_id).await {
        Ok(coupons) => {
            let page = coupons.iter().filter(|c| filter.keeps(c)).skip(from).take(count);
            Answer::success(v, page.map(coupon_json).collect())
        }
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

pub async fn by_number(State(state): State<AppState>, m: Member, Path(number): Path<String>) -> Answer {
    match state.store.coupon_by_number(m.owner.program_id, &number).await {
        Ok(c) if c.member_id == m.owner.member_id => Answer::success(m.version, coupon_json(&c)),
        Ok(_) | Err(StoreError::NotFound(_)) => Answer::error(m.version, NOT_FOUND),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}
