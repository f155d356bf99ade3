//! What an operator cannot store, each problem with its path.

use serde_json::json;

use super::*;

fn problems(value: Value) -> Vec<(String, String)> {
    match validate_event_offers(&offers(value)) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

fn fields(value: Value) -> Vec<String> {
    problems(value).into_iter().map(|(field, _)| field).collect()
}

#[test]
fn amounts_must_be_positive() {
    let found = fields(json!([
        {"id": "a", "name": "a", "on": {"events": [{"activity": "like"}]},
         "points": {"type": "accrue", "amount": {"first_then": {"first": 0, "next": -1}}}},
        {"id": "b", "name": "b", "on": {"events": ["birthday"]}, "points": {"type": "accrue", "amount": {"fixed": 0}}},
        {"id": "c", "name": "c", "on": {"events": ["birthday"]}, "points": {"type": "withdraw", "amount": 0}}
    ]));
    let expected = [
        "[0].points.amount.first_then.first",
        "[0].points.amount.first_then.next",
    ];
    assert_eq!(
        found,
        [&expected[..], &["[1].points.amount.fixed", "[2].points.amount"]].concat()
    );
}

#[test]
fn ids_are_unique_and_plain() {
    let found = fields(json!([
        {"id": "same", "name": "one", "on": {"events": ["birthday"]}, "actions": [{"type": "count", "counter": "x"}]},
        {"id": "same", "name": "two", "on": {"events": ["birthday"]}, "actions": [{"type": "count", "counter": "x"}]},
        {"id": "not ok", "name": " ", "on": {"events": ["birthday"]}, "actions": [{"type": "count", "counter": "x"}]}
    ]));
    assert_eq!(found, ["[1].id", "[2].id", "[2].name"]);
}

#[test]
fn only_removals_reverse() {
    let found = problems(json!([
        {"id": "a", "name": "a", "on": {"events": ["group_joined", "group_left"]}, "points": {"type": "reverse"}},
        {"id": "b", "name": "b", "on": {"events": ["group_left", {"activity_removed": "like"}]},
         "points": {"type": "reverse"}}
    ]));
    let message = "only `group_left` and `activity_removed` events can reverse";
    assert_eq!(found, [("[0].points.type".to_string(), message.to_string())]);
}

#[test]
fn caps_must_make_sense() {
    let found = fields(json!([
        {"id": "a", "name": "a", "on": {"events": [{"activity": "like"}]},
         "points": {"type": "accrue", "amount": {"fixed": 100}},
         "caps": [{"type": "points", "period": "month", "max": 0},
                  {"type": "points", "period": "month", "max": 1500},
                  {"type": "applications", "period": "month", "max": 0}]},
        {"id": "b", "name": "b", "on": {"events": ["group_left"]}, "points": {"type": "reverse"},
         "caps": [{"type": "points", "period": "day", "max": 10}]}
    ]));
    assert_eq!(
        found,
        [
            "[0].caps[0].max",
            "[0].caps[1].period",
            "[0].caps[2].max",
            "[1].caps[0].type"
        ]
    );
}

#[test]
fn triggers_conditions_and_actions_are_checked() {
    let found = fields(json!([
        {"id": "a", "name": "a", "on": {"events": []}},
        {"id": "b", "name": "b", "on": {"events": ["birthday"], "attribute": "x", "network": ""},
         "conditions": [{"type": "attribute_equals", "value": "1"},
                        {"type": "period", "from": "2024-06-01T00:00:00", "until": "2024-05-01T00:00:00"},
                        {"type": "period"}],
         "points": {"type": "accrue", "amount": {"fixed": 1}, "lifetime": ""},
         "actions": [{"type": "message", "channel": "sms", "template": ""},
                     {"type": "count", "counter": ""},
                     {"type": "subscription", "topic": "Gossip", "on": true}]}
    ]));
    let expected = [
        "[0].on.events",
        "[0].actions",
        "[1].on.network",
        "[1].on.attribute",
        "[1].conditions[0].type",
        "[1].conditions[1].until",
        "[1].conditions[2].from",
        "[1].points.lifetime",
        "[1].actions[0].template",
        "[1].actions[1].counter",
        "[1].actions[2].topic",
    ];
    assert_eq!(found, expected);
}

#[test]
fn unknown_fields_are_refused() {
    let typo = json!([{"id": "a", "name": "a", "on": {"events": ["birthday"]}, "action": []}]);
    assert!(serde_json::from_value::<Vec<EventOffer>>(typo).is_err());
    let amount = json!([{"id": "a", "name": "a", "on": {"events": ["birthday"]},
                         "points": {"type": "accrue", "amount": {"first_then": {"first": 1, "then": 1}}}}]);
    assert!(serde_json::from_value::<Vec<EventOffer>>(amount).is_err());
}
