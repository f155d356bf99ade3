//! Tests of event offers. Offers are built from JSON, as the admin API would; a [`Member`]
//! keeps the grants the store would keep.

mod document;
mod evaluation;
mod properties;
mod validation;

use chrono::NaiveDate;
use serde_json::Value;

use crate::events::*;
use crate::Millis;

/// Moscow: the program's offset from UTC.
pub const MSK: i32 = 180;

pub fn offers(value: Value) -> Vec<EventOffer> {
    serde_json::from_value(value).expect("valid event offers JSON")
}

/// 2024-`month`-`day` at `hour`:00 UTC.
pub fn at(month: u32, day: u32, hour: u32) -> Millis {
    let date = NaiveDate::from_ymd_opt(2024, month, day).expect("a date");
    date.and_hms_opt(hour, 0, 0)
        .expect("a time")
        .and_utc()
        .timestamp_millis()
}

pub fn event(kind: EventKind, object: &str, at: Millis) -> Event {
    Event {
        kind,
        at,
        network: Some("vk".into()),
        object: Some(object.into()),
        attribute: None,
    }
}

pub fn like(post: &str, at: Millis) -> Event {
    event(EventKind::Activity(ActivityKind::Like), post, at)
}

pub fn unlike(post: &str, at: Millis) -> Event {
    event(EventKind::ActivityRemoved(ActivityKind::Like), post, at)
}

/// A member with the grants the store keeps for them.
#[derive(Default)]
pub struct Member {
    pub state: MemberEventState,
}

impl Member {
    /// Evaluates the event and keeps its grants, as the store would.
    pub fn on(&mut self, offers: &[EventOffer], event: &Event) -> Vec<Outcome> {
        let outcomes = evaluate(offers, event, &self.state, MSK);
        self.state.grants.extend(outcomes.iter().map(|o| o.grant.clone()));
        outcomes
    }
}

pub fn accrued(outcomes: &[Outcome]) -> i64 {
    outcomes
        .iter()
        .map(|o| match o.points {
            Some(PointsChange::Accrue { points, .. }) => points,
            _ => 0,
        })
        .sum()
}

pub fn withdrawn(outcomes: &[Outcome]) -> i64 {
    outcomes
        .iter()
        .map(|o| match o.points {
            Some(PointsChange::Withdraw { points }) => points,
            _ => 0,
        })
        .sum()
}
