//! Runs a program's event offers over one event of one member.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::model::{Action, Cap, Condition, Event, EventOffer, Period, Points};
use crate::offers::local_time;
use crate::Millis;

/// One application of an offer to a member: a row of `event_grants(offer_id, member_id,
/// subject_key, amount, at)`. `amount` is what a reversal may take back: the points
/// accrued (positive), the points a reversal took back (negative), 0 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub offer_id: String,
    pub subject_key: String,
    pub amount: i64,
    pub at: Millis,
}

/// What the store loads for the member before an evaluation: their grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberEventState {
    pub grants: Vec<Grant>,
}

/// What one offer does for the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub offer_id: String,
    pub points: Option<PointsChange>,
    /// The offer's messages, counter increments and subscription switches, in its order.
    pub actions: Vec<Action>,
    /// The row to store, so that caps, the first-time rule and reversals see it later.
    pub grant: Grant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PointsChange {
    /// Under the lifetime definition with this external id (the program's default when
    /// absent).
    Accrue { points: i64, lifetime: Option<String> },
    /// A withdrawal or a reversal (then the grant's amount is `-points`).
    Withdraw { points: i64 },
}

/// The outcomes of the offers the event triggers, in the offers' order. An offer whose
/// points come to nothing (a cap used up, nothing left to reverse) does not apply at all:
/// nobody is told of points they did not get.
pub fn evaluate(
    offers: &[EventOffer],
    event: &Event,
    state: &MemberEventState,
    utc_offset_minutes: i32,
) -> Vec<Outcome> {
    let subject = event.subject_key();
    let mut fresh: Vec<Grant> = Vec::new();
    let mut outcomes = Vec::new();
    for offer in offers.iter().filter(|o| triggers(o, event, utc_offset_minutes)) {
        let history = History {
            prior: &state.grants,
            fresh: &fresh,
            offset: utc_offset_minutes,
        };
        if let Some(outcome) = apply(offer, event, &subject, &history) {
            fresh.push(outcome.grant.clone());
            outcomes.push(outcome);
        }
    }
    outcomes
}

fn triggers(offer: &EventOffer, event: &Event, utc_offset_minutes: i32) -> bool {
    let on = &offer.on;
    let changed = event.attribute.as_ref();
    offer.enabled
        && on.events.contains(&event.kind)
        && on.network.as_ref().is_none_or(|n| event.network.as_ref() == Some(n))
        && on
            .attribute
            .as_ref()
            .is_none_or(|name| changed.is_some_and(|a| &a.name == name))
        && offer.conditions.iter().all(|c| match c {
            Condition::Period { from, until } => {
                let local = local_time(event.at, utc_offset_minutes);
                from.is_none_or(|from| local >= from) && until.is_none_or(|until| local < until)
            }
            Condition::AttributeEquals { value } => changed.is_some_and(|a| &a.value == value),
        })
}

fn apply(offer: &EventOffer, event: &Event, subject: &str, history: &History) -> Option<Outcome> {
    if !history.applications_left(offer, event.at) {
        return None;
    }
    let (points, amount) = match &offer.points {
        None => (None, 0),
        Some(points) => {
            let (change, amount) = change(offer, points, event, subject, history)?;
            (Some(change), amount)
        }
    };
    Some(Outcome {
        offer_id: offer.id.clone(),
        points,
        actions: offer.actions.clone(),
        grant: Grant {
            offer_id: offer.id.clone(),
            subject_key: subject.to_string(),
            amount,
            at: event.at,
        },
    })
}

/// What the offer's points come to, with the amount its grant records; `None` when
/// they come to nothing.
fn change(
    offer: &EventOffer,
    points: &Points,
    event: &Event,
    subject: &str,
    history: &History,
) -> Option<(PointsChange, i64)> {
    let at = event.at;
    match points {
        Points::Accrue { amount, lifetime } => {
            // A like already paid for and not taken back is not paid again.
            if event.kind.stands_until_removed() && history.standing_before(subject) > 0 {
                return None;
            }
            let first = !history.rewarded(&offer.id);
            let points = positive(amount.points(first).min(history.points_left(offer, at)))?;
            let lifetime = lifetime.clone();
            Some((PointsChange::Accrue { points, lifetime }, points))
        }
        Points::Withdraw { amount } => {
            let points = positive(*amount)?;
            Some((PointsChange::Withdraw { points }, 0))
        }
        Points::Reverse => {
            let points = positive(history.standing(subject))?;
            Some((PointsChange::Withdraw { points }, -points))
        }
    }
}

fn positive(points: i64) -> Option<i64> {
    (points > 0).then_some(points)
}

/// The member's grants: those stored and those of this evaluation so far.
struct History<'a> {
    prior: &'a [Grant],
    fresh: &'a [Grant],
    offset: i32,
}

impl History<'_> {
    fn rows(&self) -> impl Iterator<Item = &Grant> {
        self.prior.iter().chain(self.fresh)
    }

    /// The offer's grants in the same cap period as `at`.
    fn in_period<'s>(&'s self, offer_id: &'s str, period: Period, at: Millis) -> impl Iterator<Item = &'s Grant> {
        let current = period_key(period, at, self.offset);
        self.rows()
            .filter(move |g| g.offer_id == offer_id && period_key(period, g.at, self.offset) == current)
    }

    /// Whether the offer's application caps let it apply once more.
    fn applications_left(&self, offer: &EventOffer, at: Millis) -> bool {
        offer.caps.iter().all(|cap| match *cap {
            Cap::Applications { period, max } => self.in_period(&offer.id, period, at).count() < max as usize,
            Cap::Points { .. } => true,
        })
    }

    /// Whether the offer ever accrued the member anything.
    fn rewarded(&self, offer_id: &str) -> bool {
        self.rows().any(|g| g.offer_id == offer_id && g.amount > 0)
    }

    /// What the offer's point caps still allow; `i64::MAX` when it has none.
    fn points_left(&self, offer: &EventOffer, at: Millis) -> i64 {
        let left = offer.caps.iter().filter_map(|cap| match *cap {
            Cap::Points { period, max } => {
                let accrued = self
                    .in_period(&offer.id, period, at)
                    .map(|g| g.amount.max(0))
                    .fold(0, i64::saturating_add);
                Some(max.saturating_sub(accrued))
            }
            Cap::Applications { .. } => None,
        });
        left.min().unwrap_or(i64::MAX)
    }

    /// What was granted on the subject and not yet taken back, under every offer.
    fn standing(&self, subject: &str) -> i64 {
        net(self.rows(), subject)
    }

    /// The same before this event: what this event's own offers grant does not count.
    fn standing_before(&self, subject: &str) -> i64 {
        net(self.prior.iter(), subject)
    }
}

fn net<'g>(grants: impl Iterator<Item = &'g Grant>, subject: &str) -> i64 {
    let amounts = grants.filter(|g| g.subject_key == subject).map(|g| g.amount);
    amounts.fold(0, i64::saturating_add).max(0)
}

/// Identifies the program-local calendar period `at` falls in; equal keys, same period.
fn period_key(period: Period, at: Millis, utc_offset_minutes: i32) -> Option<(i32, u32)> {
    let date = local_time(at, utc_offset_minutes).date();
    match period {
        Period::Day => Some((date.year(), date.ordinal())),
        Period::Week => Some((date.iso_week().year(), date.iso_week().week())),
        Period::Month => Some((date.year(), date.month())),
        Period::Year => Some((date.year(), 0)),
        Period::Ever => None,
    }
}
