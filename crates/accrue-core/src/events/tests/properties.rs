//! Random offers and event sequences (in any order, in any time zone): caps and
//! reversals hold.

use chrono::Datelike;
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashMap;

use super::*;
use crate::offers::local_time;

/// An event among a few posts over three months (May to July 2024).
fn social_event() -> impl Strategy<Value = Event> {
    let kinds = prop_oneof![
        Just(EventKind::Activity(ActivityKind::Like)),
        Just(EventKind::ActivityRemoved(ActivityKind::Like)),
        Just(EventKind::Activity(ActivityKind::Repost)),
        Just(EventKind::ActivityRemoved(ActivityKind::Repost)),
    ];
    let start = at(5, 1, 0);
    (kinds, 0_u8..4, 0_i64..92 * 24 * 60)
        .prop_map(move |(kind, post, minute)| event(kind, &post.to_string(), start + minute * 60_000))
}

fn offsets() -> impl Strategy<Value = i32> {
    -720_i32..=840
}

proptest! {
    #[test]
    fn a_monthly_cap_is_never_exceeded(
        first in 1_i64..1000,
        next in 1_i64..1000,
        max in 1_i64..3000,
        events in prop::collection::vec(social_event(), 0..60),
        offset in offsets(),
    ) {
        let offers = offers(json!([
            {"id": "likes", "name": "likes", "on": {"events": [{"activity": "like"}, {"activity": "repost"}]},
             "points": {"type": "accrue", "amount": {"first_then": {"first": first, "next": next}}},
             "caps": [{"type": "points", "period": "month", "max": max}]},
            {"id": "unlikes", "name": "unlikes",
             "on": {"events": [{"activity_removed": "like"}, {"activity_removed": "repost"}]},
             "points": {"type": "reverse"}}
        ]));
        let mut state = MemberEventState::default();
        let mut by_month: HashMap<(i32, u32), i64> = HashMap::new();
        for event in &events {
            for outcome in evaluate(&offers, event, &state, offset) {
                if let Some(PointsChange::Accrue { points, .. }) = outcome.points {
                    let local = local_time(event.at, offset);
                    *by_month.entry((local.year(), local.month())).or_default() += points;
                }
                state.grants.push(outcome.grant);
            }
        }
        for (month, total) in by_month {
            prop_assert!(total <= max, "{month:?}: {total} > {max}");
        }
    }

    #[test]
    fn a_subject_never_loses_more_than_it_was_given(
        events in prop::collection::vec(social_event(), 0..60),
        offset in offsets(),
    ) {
        let offers = offers(json!([
            {"id": "likes", "name": "likes", "on": {"events": [{"activity": "like"}]},
             "points": {"type": "accrue", "amount": {"first_then": {"first": 500, "next": 100}}},
             "caps": [{"type": "points", "period": "week", "max": 900}]},
            {"id": "reposts", "name": "reposts", "on": {"events": [{"activity": "repost"}, {"activity": "like"}]},
             "points": {"type": "accrue", "amount": {"fixed": 300}},
             "caps": [{"type": "applications", "period": "day", "max": 2}]},
            {"id": "reverse", "name": "reverse", "on": {"events": [{"activity_removed": "like"}]},
             "points": {"type": "reverse"}},
            {"id": "reverse-all", "name": "reverse all",
             "on": {"events": [{"activity_removed": "like"}, {"activity_removed": "repost"}]},
             "points": {"type": "reverse"}}
        ]));
        let mut state = MemberEventState::default();
        let mut given: HashMap<String, i64> = HashMap::new();
        let mut taken: HashMap<String, i64> = HashMap::new();
        for event in &events {
            let subject = event.subject_key();
            for outcome in evaluate(&offers, event, &state, offset) {
                match outcome.points {
                    Some(PointsChange::Accrue { points, .. }) => *given.entry(subject.clone()).or_default() += points,
                    Some(PointsChange::Withdraw { points }) => *taken.entry(subject.clone()).or_default() += points,
                    None => {}
                }
                state.grants.push(outcome.grant);
            }
            let (given, taken) = (given.get(&subject).copied().unwrap_or(0), taken.get(&subject).copied().unwrap_or(0));
            prop_assert!(taken <= given, "{subject}: took {taken} of {given}");
        }
    }
}
