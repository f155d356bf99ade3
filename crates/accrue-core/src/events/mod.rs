//! Event offers: promotions triggered by what members do besides buying (Loymax's
//! "Социальные сети" and kin).
//!
//! - An [`Event`] is registration finished, birthday, an attribute changed, a social
//!   profile linked, a group joined or left, or a like, comment or repost made or removed.
//! - An [`EventOffer`] reacts to some kinds of events (`on`), under `conditions`, with at
//!   most one change of `points` (accrue, withdraw, or reverse what the removed event gave)
//!   and any `actions` (message, counter, subscription switch), within per-member `caps`.
//! - [`evaluate`] tells what the offers do for one event, given the member's stored
//!   [`Grant`]s; the store saves each outcome's grant, which is how caps, the first-time
//!   amount and reversals see the past. An event and its removal share a
//!   [`Event::subject_key`], so a removal takes back exactly what is still standing on it.
//! - [`vk`] reads VK's Callback API into events; [`birthday`] tells whose birthday it is.

pub mod birthday;
mod evaluate;
mod model;
mod validate;
pub mod vk;

#[cfg(test)]
mod tests;

pub use evaluate::{evaluate, Grant, MemberEventState, Outcome, PointsChange};
pub use model::{
    Action, ActivityKind, Amount, AttributeChange, Cap, Channel, Condition, Event, EventKind, EventOffer, Period,
    Points, Trigger,
};
pub use validate::validate_event_offers;
