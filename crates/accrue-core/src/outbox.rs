//! The rules of outbound delivery: what kinds of message exist, which events can be
//! subscribed to, how an answer is judged, and when the next attempt is due.

use crate::Millis;
use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

text_enum!(
    /// Events Accrue announces to subscribed webhook endpoints.
    EventType {
        MemberRegistered = "member.registered",
        MemberUpdated = "member.updated",
        PointsAccrued = "points.accrued",
        PointsWithdrawn = "points.withdrawn",
        PointsExpired = "points.expired",
        /// Points reserved by a hold (a payment with points before its Confirm).
        PointsHeld = "points.held",
        /// A hold voided or expired: its points are back.
        PointsReleased = "points.released",
        /// Points that paid for a refunded purchase are back.
        PointsRefunded = "points.refunded",
        /// The accrual of a refunded purchase is taken back.
        PointsReversed = "points.reversed",
        PurchaseConfirmed = "purchase.confirmed",
        PurchaseCanceled = "purchase.canceled",
        PurchaseRefunded = "purchase.refunded",
        ConversionRecorded = "conversion.recorded",
        /// An invitee was attributed to an inviter (or a reviewed referral approved).
        ReferralAttributed = "referral.attributed",
        /// A referral tripped a fraud rule and waits for review.
        ReferralFlagged = "referral.flagged",
        ReferralRejected = "referral.rejected",
        ReferralRewarded = "referral.rewarded",
        /// A refund took back (part of) a referral reward.
        ReferralReversed = "referral.reversed",
        PaymentNotified = "payment.notified",
        WebhookTest = "webhook.test",
    }
);

text_enum!(
    /// How a message travels.
    MessageKind {
        /// A signed event POSTed to a subscribed endpoint.
        Webhook = "webhook",
        /// A GET of a rendered URL template (partner notifications, postbacks).
        HttpGet = "http_get",
        /// A POST of the payload as JSON to a URL.
        HttpPost = "http_post",
        Email = "email",
        Sms = "sms",
        /// A push message to one device of a member's app (the target is the device).
        Push = "push",
    }
);

text_enum!(
    MessageState {
        Pending = "pending",
        Delivered = "delivered",
        /// Given up on; an operator may retry it by hand.
        Failed = "failed",
    }
);

/// The delays between attempts, as Svix uses them: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_SCHEDULE: [i64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

/// What one attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again later (timeouts, 5xx, other non-2xx).
    Retry,
    /// 410 Gone: the receiver asks never to be called again.
    Gone,
}

/// The payload with `{name}` in its text fields filled from `secrets` (a message's
/// sealed parts, opened at send time). Fields that are not text stay as they are.
pub fn fill_secrets(
    payload: &serde_json::Value,
    secrets: &std::collections::BTreeMap<String, String>,
) -> serde_json::Value {
    match payload {
        serde_json::Value::String(text) => {
            serde_json::Value::String(secrets.iter().fold(text.clone(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), value)
            }))
        }
        serde_json::Value::Object(fields) => serde_json::Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), fill_secrets(v, secrets)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn judge(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        _ => Verdict::Retry,
    }
}

/// When attempt number `attempts + 1` is due after `attempts` failed ones, or `None`
/// when the schedule is used up. `retry_after` (seconds, from the receiver) replaces the
/// scheduled delay; `jitter` in [0, 1) spreads retries by up to ±10 %.
pub fn next_attempt(
    attempts: usize,
    schedule: &[i64],
    now: Millis,
    retry_after: Option<i64>,
    jitter: f64,
) -> Option<Millis> {
    let scheduled = *schedule.get(attempts.checked_sub(1)?)?;
    let seconds = match retry_after {
        Some(asked) => asked.clamp(1, 86_400),
        None => scheduled,
    };
    let spread = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    Some(now + (seconds as f64 * 1000.0 * spread) as Millis)
}

/// Reads a `Retry-After` value given in seconds (HTTP dates are left to the caller).
pub fn retry_after_seconds(value: &str) -> Option<i64> {
    value.trim().parse::<i64>().ok().filter(|s| *s >= 0)
}

#[cfg(test)]
mod tests {

    #[test]
    fn secrets_fill_text_fields_only() {
        let secrets = std::collections::BTreeMap::from([("code".to_string(), "1234".to_string())]);
        let payload = serde_json::json!({"subject": "Code", "body": "Your code: {code}.", "n": 1});
        assert_eq!(
            fill_secrets(&payload, &secrets),
            serde_json::json!({"subject": "Code", "body": "Your code: 1234.", "n": 1})
        );
    }

    use super::*;

    #[test]
    fn names_round_trip() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(*e));
        }
        assert_eq!(EventType::parse("points.accrued"), Some(EventType::PointsAccrued));
        assert_eq!(MessageKind::parse("sms"), Some(MessageKind::Sms));
        assert_eq!(MessageState::parse("nope"), None);
    }

    #[test]
    fn answers_are_judged_by_status() {
        assert_eq!(judge(Some(200)), Verdict::Delivered);
        assert_eq!(judge(Some(204)), Verdict::Delivered);
        assert_eq!(judge(Some(410)), Verdict::Gone);
        for retry in [Some(500), Some(503), Some(404), Some(301), None] {
            assert_eq!(judge(retry), Verdict::Retry);
        }
    }

    #[test]
    fn the_schedule_spaces_attempts_then_gives_up() {
        let s = DEFAULT_SCHEDULE;
        assert_eq!(next_attempt(1, &s, 0, None, 0.5), Some(5_000));
        assert_eq!(next_attempt(2, &s, 0, None, 0.5), Some(300_000));
        assert_eq!(next_attempt(7, &s, 0, None, 0.5), Some(36_000_000));
        assert_eq!(next_attempt(8, &s, 0, None, 0.5), None, "eight attempts in all");
        assert_eq!(next_attempt(0, &s, 0, None, 0.5), None);
        let early = next_attempt(1, &s, 0, None, 0.0).unwrap();
        let late = next_attempt(1, &s, 0, None, 0.999).unwrap();
        assert!((4_500..=5_500).contains(&early) && (4_500..=5_500).contains(&late) && early < late);
    }

    #[test]
    fn retry_after_replaces_the_scheduled_delay() {
        assert_eq!(next_attempt(1, &DEFAULT_SCHEDULE, 0, Some(60), 0.5), Some(60_000));
        assert_eq!(
            next_attempt(1, &DEFAULT_SCHEDULE, 0, Some(10_000_000), 0.5),
            Some(86_400_000)
        );
        assert_eq!(retry_after_seconds(" 120 "), Some(120));
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after_seconds("-1"), None);
    }
}
