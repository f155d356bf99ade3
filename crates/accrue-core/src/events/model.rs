//! Events and event offers as typed data: what the API receives and the admin API stores.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::Millis;

/// Something a member did (or that happened to them) besides a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub kind: EventKind,
    pub at: Millis,
    /// The social network, e.g. `vk` or `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// What the event is about: the group joined or left, the post liked or reposted, the
    /// comment written. A removal names the same object as what it removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// For `attribute_changed`: the attribute and its new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeChange>,
}

/// JSON: a name (`"group_joined"`), or for activities `{"activity": "like"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    RegistrationFinished,
    Birthday,
    AttributeChanged,
    SocialLinked,
    GroupJoined,
    GroupLeft,
    /// A like, comment or repost on one of the program's posts.
    Activity(ActivityKind),
    /// A like, comment or repost withdrawn.
    ActivityRemoved(ActivityKind),
}

impl EventKind {
    /// Whether the event undoes an earlier one (the one with the same subject key).
    pub fn is_removal(self) -> bool {
        matches!(self, EventKind::GroupLeft | EventKind::ActivityRemoved(_))
    }

    /// Whether the event begins something that stands until a removal undoes it (a
    /// membership, a like, a comment, a repost): told again while it stands — by a second
    /// source, or a repeated delivery — it is the same fact.
    pub fn stands_until_removed(self) -> bool {
        matches!(self, EventKind::GroupJoined | EventKind::Activity(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Like,
    Comment,
    Repost,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Like => "like",
            ActivityKind::Comment => "comment",
            ActivityKind::Repost => "repost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeChange {
    pub name: String,
    pub value: String,
}

impl Event {
    /// What the event is about, as stored with a grant. An event and its removal share
    /// the key (`activity_removed(like)` of post X that of `activity(like)` of post X,
    /// `group_left` that of `group_joined` of the same group and network), so a removal
    /// finds the grants it takes back by it.
    pub fn subject_key(&self) -> String {
        let network = self.network.as_deref().unwrap_or_default();
        let object = self.object.as_deref().unwrap_or_default();
        match self.kind {
            EventKind::Activity(kind) | EventKind::ActivityRemoved(kind) => {
                key(&["activity", kind.as_str(), network, object])
            }
            EventKind::GroupJoined | EventKind::GroupLeft => key(&["group", network, object]),
            EventKind::SocialLinked => key(&["social", network]),
            EventKind::AttributeChanged => key(&["attribute", self.attribute.as_ref().map_or("", |a| a.name.as_str())]),
            EventKind::RegistrationFinished => "registration".into(),
            EventKind::Birthday => "birthday".into(),
        }
    }
}

/// Joins parts with `:`, escaping `%` and `:` inside them so that keys never collide.
fn key(parts: &[&str]) -> String {
    let escaped: Vec<String> = parts
        .iter()
        .map(|p| p.replace('%', "%25").replace(':', "%3A"))
        .collect();
    escaped.join(":")
}

/// A promotion triggered by events. Amounts are points in minor units, like every amount
/// of the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventOffer {
    pub id: String,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub on: Trigger,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// What the offer does with the member's points, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Points>,
    /// What else it does.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Per-member limits.
    #[serde(default)]
    pub caps: Vec<Cap>,
}

fn yes() -> bool {
    true
}

/// Which events the offer reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The event's kind is one of these.
    pub events: Vec<EventKind>,
    /// Only events of this network; any network when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// For `attribute_changed`: only changes of this attribute; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Program-local date and time window of the event, `until` exclusive.
    Period {
        #[serde(default)]
        from: Option<NaiveDateTime>,
        #[serde(default)]
        until: Option<NaiveDateTime>,
    },
    /// The changed attribute's new value is this one.
    AttributeEquals { value: String },
}

/// The one thing an offer may do with points. One per offer, so that caps, the first-time
/// rule and reversals each have a single amount to work on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Points {
    /// Accrues points under the lifetime definition with this external id (the program's
    /// default when absent).
    Accrue {
        amount: Amount,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lifetime: Option<String>,
    },
    /// Takes this many points.
    Withdraw { amount: i64 },
    /// Takes back what the event this one removes gave, under every offer that gave it,
    /// minus what was already taken back: never more, and nothing if it gave nothing.
    Reverse,
}

/// JSON: `{"fixed": 100}` or `{"first_then": {"first": 500, "next": 100}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Amount {
    Fixed(i64),
    /// `first` for the member's first rewarded event of this offer ever (it does not
    /// come back with a new cap period, nor when that reward is taken back, so toggling a
    /// like cannot farm it), `next` for every later one.
    FirstThen {
        first: i64,
        next: i64,
    },
}

impl Amount {
    pub fn points(self, first: bool) -> i64 {
        match self {
            Amount::Fixed(points) => points,
            Amount::FirstThen { first: points, .. } if first => points,
            Amount::FirstThen { next, .. } => next,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Sends the member the message of this template.
    Message { channel: Channel, template: String },
    /// Adds one to the member's counter of this name.
    Count { counter: String },
    /// Turns the member's subscription to this topic (a subscription type's external id,
    /// e.g. `Advertisement`) on or off.
    Subscription { topic: String, on: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Push,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cap {
    /// At most `max` points accrued by the offer per period (gross: taking points back
    /// does not make room again).
    Points { period: Period, max: i64 },
    /// The offer applies at most `max` times per period.
    Applications { period: Period, max: u32 },
}

/// Calendar periods in program-local time; weeks start on Monday; `ever` never resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
    Ever,
}
