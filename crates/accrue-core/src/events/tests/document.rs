//! The offers of the document's "Социальные сети" section, over time. 1 point = 100.

use serde_json::json;

use super::*;

/// "5 points for the first like, 1 point for each next like, but at most 15 a month".
fn likes() -> Vec<EventOffer> {
    offers(json!([
        {"id": "vk-likes", "name": "5 for the first like, then 1, at most 15 a month",
         "on": {"events": [{"activity": "like"}], "network": "vk"},
         "points": {"type": "accrue", "amount": {"first_then": {"first": 500, "next": 100}}, "lifetime": "social"},
         "caps": [{"type": "points", "period": "month", "max": 1500}]}
    ]))
}

/// Points once for joining the group, withdrawn when the member leaves it.
fn group() -> Vec<EventOffer> {
    offers(json!([
        {"id": "vk-join", "name": "10 for joining the group",
         "on": {"events": ["group_joined"], "network": "vk"},
         "points": {"type": "accrue", "amount": {"fixed": 1000}},
         "caps": [{"type": "applications", "period": "ever", "max": 1}]},
        {"id": "vk-leave", "name": "Withdraw the points when the member leaves the group",
         "on": {"events": ["group_left"], "network": "vk"},
         "points": {"type": "reverse"}}
    ]))
}

/// Points for reposts, withdrawn when the member deletes the repost.
fn reposts() -> Vec<EventOffer> {
    offers(json!([
        {"id": "vk-repost", "name": "3 for a repost, 3 reposts a day",
         "on": {"events": [{"activity": "repost"}], "network": "vk"},
         "points": {"type": "accrue", "amount": {"fixed": 300}},
         "caps": [{"type": "applications", "period": "day", "max": 3}]},
        {"id": "vk-repost-deleted", "name": "Withdraw the points when the member deletes the repost",
         "on": {"events": [{"activity_removed": "repost"}], "network": "vk"},
         "points": {"type": "reverse"},
         "actions": [{"type": "message", "channel": "push", "template": "repost-points-withdrawn"}]}
    ]))
}

fn repost(post: &str, at: Millis) -> Event {
    event(EventKind::Activity(ActivityKind::Repost), post, at)
}

fn repost_deleted(post: &str, at: Millis) -> Event {
    event(EventKind::ActivityRemoved(ActivityKind::Repost), post, at)
}

#[test]
fn the_document_offers_are_valid() {
    for set in [likes(), group(), reposts()] {
        assert_eq!(validate_event_offers(&set), Ok(()));
    }
}

#[test]
fn likes_give_5_then_1_up_to_15_a_month_and_the_first_is_once_ever() {
    let offers = likes();
    let mut member = Member::default();
    let may: Vec<i64> = (1..=20)
        .map(|d| accrued(&member.on(&offers, &like(&format!("may-{d}"), at(5, d, 12)))))
        .collect();
    assert_eq!(may[0], 500);
    assert_eq!(may[1..11], [100; 10]);
    assert_eq!(may[11..], [0; 9]);
    assert_eq!(may.iter().sum::<i64>(), 1500);
    // June starts a new cap; the first like was May's, so every like gives 1.
    let june: Vec<i64> = (1..=20)
        .map(|d| accrued(&member.on(&offers, &like(&format!("jun-{d}"), at(6, d, 12)))))
        .collect();
    assert_eq!(june[..15], [100; 15]);
    assert_eq!(june[15..], [0; 5]);
}

#[test]
fn the_month_is_the_programs_local_month() {
    let offers = likes();
    let mut member = Member::default();
    for d in 1..=11 {
        member.on(&offers, &like(&format!("p{d}"), at(5, d, 12)));
    }
    // 31 May 20:00 UTC is 23:00 in Moscow: still May, used up.
    assert!(member.on(&offers, &like("late-may", at(5, 31, 20))).is_empty());
    // 31 May 21:00 UTC is midnight of 1 June in Moscow.
    let outcome = member.on(&offers, &like("early-june", at(5, 31, 21)));
    let lifetime = Some("social".to_string());
    assert_eq!(outcome[0].points, Some(PointsChange::Accrue { points: 100, lifetime }));
}

#[test]
fn leaving_the_group_takes_back_what_joining_gave_and_no_more() {
    let offers = group();
    let mut member = Member::default();
    let joined = member.on(&offers, &event(EventKind::GroupJoined, "77", at(5, 1, 12)));
    assert_eq!(accrued(&joined), 1000);
    let left = member.on(&offers, &event(EventKind::GroupLeft, "77", at(5, 2, 12)));
    assert_eq!((withdrawn(&left), left[0].grant.amount), (1000, -1000));
    assert_eq!(left[0].grant.subject_key, joined[0].grant.subject_key);
    // A repeated leave finds nothing standing.
    assert!(member
        .on(&offers, &event(EventKind::GroupLeft, "77", at(5, 3, 12)))
        .is_empty());
    // Joining again gives nothing (once ever), so leaving again takes nothing.
    assert!(member
        .on(&offers, &event(EventKind::GroupJoined, "77", at(5, 4, 12)))
        .is_empty());
    assert!(member
        .on(&offers, &event(EventKind::GroupLeft, "77", at(5, 5, 12)))
        .is_empty());
}

#[test]
fn leaving_another_group_takes_nothing() {
    let offers = group();
    let mut member = Member::default();
    member.on(&offers, &event(EventKind::GroupJoined, "77", at(5, 1, 12)));
    assert!(member
        .on(&offers, &event(EventKind::GroupLeft, "78", at(5, 2, 12)))
        .is_empty());
    let mut other_network = event(EventKind::GroupLeft, "77", at(5, 2, 12));
    other_network.network = Some("ok".into());
    assert!(member.on(&offers, &other_network).is_empty());
}

#[test]
fn deleting_a_repost_takes_back_what_that_repost_gave() {
    let offers = [reposts(), likes()].concat();
    let mut member = Member::default();
    assert_eq!(accrued(&member.on(&offers, &repost("10", at(5, 1, 10)))), 300);
    assert_eq!(accrued(&member.on(&offers, &repost("11", at(5, 1, 11)))), 300);
    assert_eq!(accrued(&member.on(&offers, &like("10", at(5, 1, 11)))), 500);
    let deleted = member.on(&offers, &repost_deleted("10", at(5, 2, 12)));
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        (deleted[0].offer_id.as_str(), withdrawn(&deleted)),
        ("vk-repost-deleted", 300)
    );
    let message = Action::Message {
        channel: Channel::Push,
        template: "repost-points-withdrawn".into(),
    };
    assert_eq!(deleted[0].actions, [message]);
    // Already reversed, never reposted: nothing, and no message either.
    assert!(member.on(&offers, &repost_deleted("10", at(5, 3, 12))).is_empty());
    assert!(member.on(&offers, &repost_deleted("12", at(5, 3, 12))).is_empty());
    // The like of the same post and the other repost still stand.
    assert_eq!(withdrawn(&member.on(&offers, &repost_deleted("11", at(5, 3, 12)))), 300);
}
