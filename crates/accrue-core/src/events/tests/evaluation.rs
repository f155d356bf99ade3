//! Triggers, conditions, caps and reversals, one rule at a time.

use serde_json::json;

use super::*;

fn grant(offer_id: &str, subject_key: &str, amount: i64, at: Millis) -> Grant {
    Grant {
        offer_id: offer_id.into(),
        subject_key: subject_key.into(),
        amount,
        at,
    }
}

fn like_offer(extra: Value) -> Vec<EventOffer> {
    let mut offer = json!({"id": "likes", "name": "likes", "on": {"events": [{"activity": "like"}]},
                           "points": {"type": "accrue", "amount": {"fixed": 500}}});
    offer
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    offers(json!([offer]))
}

#[test]
fn a_partly_used_cap_clips_the_amount() {
    let offers = like_offer(json!({"caps": [{"type": "points", "period": "month", "max": 1500}]}));
    let mut member = Member::default();
    member.state.grants = vec![
        grant("likes", "x", 1400, at(5, 2, 12)),
        grant("likes", "y", 900, at(4, 30, 12)),
    ];
    assert_eq!(accrued(&member.on(&offers, &like("10", at(5, 20, 12)))), 100);
    assert!(member.on(&offers, &like("11", at(5, 21, 12))).is_empty());
    // Taking points back does not make room again.
    assert_eq!(
        withdrawn(&member.on(&reverse_likes(), &unlike("10", at(5, 22, 12)))),
        100
    );
    assert!(member.on(&offers, &like("12", at(5, 23, 12))).is_empty());
}

fn reverse_likes() -> Vec<EventOffer> {
    offers(
        json!([{"id": "unlikes", "name": "unlikes", "on": {"events": [{"activity_removed": "like"}]},
                   "points": {"type": "reverse"}}]),
    )
}

#[test]
fn the_tightest_cap_wins() {
    let caps = json!({"caps": [
        {"type": "points", "period": "week", "max": 700},
        {"type": "points", "period": "year", "max": 5000},
        {"type": "applications", "period": "day", "max": 1}
    ]});
    let offers = like_offer(caps);
    let mut member = Member::default();
    assert_eq!(accrued(&member.on(&offers, &like("1", at(5, 13, 9)))), 500);
    assert!(member.on(&offers, &like("2", at(5, 13, 10))).is_empty(), "one a day");
    assert_eq!(
        accrued(&member.on(&offers, &like("3", at(5, 14, 10)))),
        200,
        "700 a week"
    );
    assert_eq!(
        accrued(&member.on(&offers, &like("4", at(5, 20, 10)))),
        500,
        "a new week"
    );
}

#[test]
fn a_reversal_takes_back_what_every_offer_gave_once() {
    let promo = json!({"id": "promo", "name": "promo", "on": {"events": [{"activity": "like"}], "network": "vk"},
                       "points": {"type": "accrue", "amount": {"fixed": 100}}});
    let second_reverse = json!({"id": "unlikes-again", "name": "again",
                                "on": {"events": [{"activity_removed": "like"}]}, "points": {"type": "reverse"}});
    let offers = [
        like_offer(json!({})),
        offers(json!([promo, second_reverse])),
        reverse_likes(),
    ]
    .concat();
    let mut member = Member::default();
    assert_eq!(accrued(&member.on(&offers, &like("10", at(5, 1, 12)))), 600);
    let removed = member.on(&offers, &unlike("10", at(5, 2, 12)));
    // The first reversing offer takes all 600; the second finds nothing left.
    assert_eq!(removed.len(), 1);
    assert_eq!(
        (removed[0].offer_id.as_str(), withdrawn(&removed)),
        ("unlikes-again", 600)
    );
    // Liked again: given again, and taken back again.
    assert_eq!(accrued(&member.on(&offers, &like("10", at(5, 3, 12)))), 600);
    assert_eq!(withdrawn(&member.on(&offers, &unlike("10", at(5, 4, 12)))), 600);
}

#[test]
fn offers_without_points_carry_their_actions_and_record_zero() {
    let offers = offers(json!([
        {"id": "linked", "name": "linked", "on": {"events": ["social_linked"]},
         "actions": [{"type": "count", "counter": "socials"},
                     {"type": "subscription", "topic": "Advertisement", "on": true},
                     {"type": "message", "channel": "email", "template": "welcome-social"}]}
    ]));
    let outcomes = Member::default().on(&offers, &event(EventKind::SocialLinked, "", at(5, 1, 12)));
    assert_eq!(outcomes.len(), 1);
    assert_eq!((outcomes[0].points.as_ref(), outcomes[0].actions.len()), (None, 3));
    assert_eq!(outcomes[0].grant, grant("linked", "social:vk", 0, at(5, 1, 12)));
}

#[test]
fn a_birthday_gift_comes_once_a_year() {
    let offers = offers(json!([
        {"id": "birthday", "name": "birthday", "on": {"events": ["birthday"]},
         "points": {"type": "accrue", "amount": {"fixed": 10000}, "lifetime": "birthday-30d"},
         "caps": [{"type": "applications", "period": "year", "max": 1}]}
    ]));
    let birthday = |at| Event {
        kind: EventKind::Birthday,
        at,
        network: None,
        object: None,
        attribute: None,
    };
    let mut member = Member::default();
    assert_eq!(accrued(&member.on(&offers, &birthday(at(5, 1, 12)))), 10000);
    assert!(member.on(&offers, &birthday(at(12, 31, 12))).is_empty());
    assert_eq!(
        accrued(&member.on(&offers, &birthday(at(12, 31, 21)))),
        10000,
        "1 Jan 2025 in Moscow"
    );
}

#[test]
fn triggers_and_conditions_select_the_event() {
    let offers = offers(json!([
        {"id": "email", "name": "email confirmed", "on": {"events": ["attribute_changed"], "attribute": "emailConfirmed"},
         "conditions": [{"type": "attribute_equals", "value": "true"},
                        {"type": "period", "from": "2024-05-01T00:00:00", "until": "2024-06-01T00:00:00"}],
         "points": {"type": "withdraw", "amount": 50}},
        {"id": "off", "name": "disabled", "enabled": false, "on": {"events": ["attribute_changed"]},
         "actions": [{"type": "count", "counter": "changes"}]}
    ]));
    let change = |name: &str, value: &str, at| Event {
        kind: EventKind::AttributeChanged,
        at,
        network: None,
        object: None,
        attribute: Some(AttributeChange {
            name: name.into(),
            value: value.into(),
        }),
    };
    let mut member = Member::default();
    let applied = member.on(&offers, &change("emailConfirmed", "true", at(5, 10, 12)));
    assert_eq!((withdrawn(&applied), applied[0].grant.amount), (50, 0));
    assert!(member
        .on(&offers, &change("emailConfirmed", "false", at(5, 10, 12)))
        .is_empty());
    assert!(member
        .on(&offers, &change("phoneConfirmed", "true", at(5, 10, 12)))
        .is_empty());
    assert!(
        member
            .on(&offers, &change("emailConfirmed", "true", at(5, 31, 21)))
            .is_empty(),
        "June in Moscow"
    );
}

#[test]
fn an_event_and_its_removal_share_a_subject_key() {
    assert_eq!(like("10", 1).subject_key(), unlike("10", 2).subject_key());
    assert_eq!(like("10", 1).subject_key(), "activity:like:vk:10");
    let joined = event(EventKind::GroupJoined, "77", 1);
    assert_eq!(joined.subject_key(), event(EventKind::GroupLeft, "77", 2).subject_key());
    assert_ne!(joined.subject_key(), event(EventKind::GroupLeft, "78", 2).subject_key());
    let mut tricky = event(EventKind::GroupJoined, "b", 1);
    tricky.network = Some("vk:a".into());
    let mut plain = event(EventKind::GroupJoined, "a:b", 1);
    plain.network = Some("vk".into());
    assert_ne!(tricky.subject_key(), plain.subject_key());
}

#[test]
fn events_read_from_json() {
    let parsed = json!({"kind": {"activity": "like"}, "at": 5, "network": "vk", "object": "10"});
    assert_eq!(serde_json::from_value::<Event>(parsed).unwrap(), like("10", 5));
    let joined = json!({"kind": "group_joined", "at": 5});
    assert_eq!(
        serde_json::from_value::<Event>(joined).unwrap().kind,
        EventKind::GroupJoined
    );
    assert!(serde_json::from_value::<Event>(json!({"kind": "birthday", "at": 5, "extra": 1})).is_err());
}

#[test]
fn a_like_told_twice_while_it_stands_pays_once() {
    let offers = like_offer(json!({}));
    let mut everything = offers.clone();
    everything.extend(reverse_likes());
    let mut member = Member::default();
    assert_eq!(accrued(&member.on(&everything, &like("10", at(5, 1, 12)))), 500);
    // The collector sees the like the Callback API told of.
    assert!(member.on(&everything, &like("10", at(5, 1, 13))).is_empty());
    assert_eq!(
        accrued(&member.on(&everything, &like("11", at(5, 1, 14)))),
        500,
        "another post"
    );
    assert_eq!(withdrawn(&member.on(&everything, &unlike("10", at(5, 2, 12)))), 500);
    assert_eq!(
        accrued(&member.on(&everything, &like("10", at(5, 3, 12)))),
        500,
        "liked again after the removal took it back"
    );
}

#[test]
fn two_offers_may_pay_for_one_like() {
    let mut offers = like_offer(json!({}));
    offers.extend(like_offer(json!({"id": "may-likes", "name": "May"})));
    let mut member = Member::default();
    assert_eq!(accrued(&member.on(&offers, &like("10", at(5, 1, 12)))), 1000);
}
