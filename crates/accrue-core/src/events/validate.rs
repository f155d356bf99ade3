//! Checks a program's event offers before they are stored: every problem, with its path.

use std::collections::BTreeSet;

use super::model::{Action, Amount, Cap, Condition, EventKind, EventOffer, Points};
use crate::money::MAX_AMOUNT;
use crate::offers::FieldError;
use crate::subscriptions::Topic;

const MAX_ID: usize = 64;
const MAX_TEXT: usize = 500;

/// Validates a program's whole set of event offers: each offer, and that ids are unique.
/// Paths look like `[0].points.amount.first`.
pub fn validate_event_offers(offers: &[EventOffer]) -> Result<(), Vec<FieldError>> {
    let mut problems = Problems::default();
    let mut seen = BTreeSet::new();
    for (i, offer) in offers.iter().enumerate() {
        let at = format!("[{i}]");
        check_offer(offer, &at, &mut problems);
        problems.require(seen.insert(offer.id.as_str()), &at, "id", "another offer has this id");
    }
    if problems.errors.is_empty() {
        Ok(())
    } else {
        Err(problems.errors)
    }
}

#[derive(Default)]
struct Problems {
    errors: Vec<FieldError>,
}

impl Problems {
    fn require(&mut self, ok: bool, at: &str, field: &str, message: &str) {
        if !ok {
            self.errors.push(FieldError {
                field: format!("{at}.{field}"),
                message: message.into(),
            });
        }
    }

    fn text(&mut self, text: &str, at: &str, field: &str) {
        self.require(!text.trim().is_empty(), at, field, "must not be empty");
        let short = text.chars().count() <= MAX_TEXT;
        self.require(short, at, field, "must be at most 500 characters");
    }

    fn points(&mut self, points: i64, at: &str, field: &str) {
        let ok = points > 0 && points <= MAX_AMOUNT;
        self.require(ok, at, field, "must be a positive amount in minor units");
    }
}

fn check_offer(offer: &EventOffer, at: &str, problems: &mut Problems) {
    let id_ok = !offer.id.is_empty()
        && offer.id.len() <= MAX_ID
        && offer.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    problems.require(id_ok, at, "id", "must be 1 to 64 letters, digits, '-', '_' or '.'");
    problems.text(&offer.name, at, "name");
    check_trigger(offer, at, problems);
    for (i, condition) in offer.conditions.iter().enumerate() {
        check_condition(offer, condition, &format!("{at}.conditions[{i}]"), problems);
    }
    let does_something = offer.points.is_some() || !offer.actions.is_empty();
    problems.require(
        does_something,
        at,
        "actions",
        "the offer needs points or at least one action",
    );
    if let Some(points) = &offer.points {
        check_points(offer, points, &format!("{at}.points"), problems);
    }
    for (i, action) in offer.actions.iter().enumerate() {
        check_action(action, &format!("{at}.actions[{i}]"), problems);
    }
    check_caps(offer, at, problems);
}

fn check_trigger(offer: &EventOffer, at: &str, problems: &mut Problems) {
    let on = &offer.on;
    problems.require(!on.events.is_empty(), at, "on.events", "must list at least one event");
    if let Some(network) = &on.network {
        problems.text(network, at, "on.network");
    }
    if let Some(attribute) = &on.attribute {
        problems.text(attribute, at, "on.attribute");
        let ok = only_attribute_changes(offer);
        problems.require(
            ok,
            at,
            "on.attribute",
            "only `attribute_changed` events name an attribute",
        );
    }
}

fn only_attribute_changes(offer: &EventOffer) -> bool {
    offer.on.events.iter().all(|e| *e == EventKind::AttributeChanged)
}

fn check_condition(offer: &EventOffer, condition: &Condition, at: &str, problems: &mut Problems) {
    match condition {
        Condition::Period { from, until } => {
            problems.require(
                from.is_some() || until.is_some(),
                at,
                "from",
                "needs `from`, `until` or both",
            );
            let backwards = matches!((from, until), (Some(from), Some(until)) if from >= until);
            problems.require(!backwards, at, "until", "must be later than `from`");
        }
        Condition::AttributeEquals { value } => {
            let short = value.chars().count() <= MAX_TEXT;
            problems.require(short, at, "value", "must be at most 500 characters");
            let ok = only_attribute_changes(offer);
            problems.require(ok, at, "type", "only `attribute_changed` events have a value");
        }
    }
}

fn check_points(offer: &EventOffer, points: &Points, at: &str, problems: &mut Problems) {
    match points {
        Points::Accrue { amount, lifetime } => {
            match *amount {
                Amount::Fixed(points) => problems.points(points, at, "amount.fixed"),
                Amount::FirstThen { first, next } => {
                    problems.points(first, at, "amount.first_then.first");
                    problems.points(next, at, "amount.first_then.next");
                }
            }
            if let Some(lifetime) = lifetime {
                problems.text(lifetime, at, "lifetime");
            }
        }
        Points::Withdraw { amount } => problems.points(*amount, at, "amount"),
        Points::Reverse => {
            let ok = offer.on.events.iter().all(|e| e.is_removal());
            problems.require(
                ok,
                at,
                "type",
                "only `group_left` and `activity_removed` events can reverse",
            );
        }
    }
}

fn check_action(action: &Action, at: &str, problems: &mut Problems) {
    match action {
        Action::Message { template, .. } => problems.text(template, at, "template"),
        Action::Count { counter } => problems.text(counter, at, "counter"),
        Action::Subscription { topic, .. } => {
            let known = Topic::parse(topic).is_some();
            problems.require(known, at, "topic", "must be a subscription type, e.g. `Advertisement`");
        }
    }
}

fn check_caps(offer: &EventOffer, at: &str, problems: &mut Problems) {
    let accrues = matches!(offer.points, Some(Points::Accrue { .. }));
    let mut kinds = BTreeSet::new();
    for (i, cap) in offer.caps.iter().enumerate() {
        let at = format!("{at}.caps[{i}]");
        let (kind, period, positive) = match *cap {
            Cap::Points { period, max } => ("points", period, max > 0),
            Cap::Applications { period, max } => ("applications", period, max > 0),
        };
        problems.require(positive, &at, "max", "must be more than 0");
        problems.require(
            kind != "points" || accrues,
            &at,
            "type",
            "only an offer that accrues has a points cap",
        );
        problems.require(
            kinds.insert((kind, period)),
            &at,
            "period",
            "repeats a cap of the same type and period",
        );
    }
}
