//! Postback events and how they are counted.
//!
//! As in the Chatterfy document: `registration`; first deposit `sale` or
//! `first_deposit_…`; repeat deposit `resale`, `recurring_deposit_…`, or `sale` with a
//! `tracker.tid` once a first deposit is known; and custom events an integration
//! defines (such as `conf`, e-mail confirmed). Deduplication follows the trackers:
//! registration, first deposit and each custom event once per click, a repeat deposit
//! once per tid.

use serde::{Deserialize, Serialize};

/// What kind of conversion an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Registration,
    FirstDeposit,
    RepeatDeposit,
    Custom,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Registration,
        Kind::FirstDeposit,
        Kind::RepeatDeposit,
        Kind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Registration => "registration",
            Kind::FirstDeposit => "first_deposit",
            Kind::RepeatDeposit => "repeat_deposit",
            Kind::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Deposits carry an amount that counts as revenue.
    pub fn is_deposit(self) -> bool {
        matches!(self, Kind::FirstDeposit | Kind::RepeatDeposit)
    }
}

/// The event a postback names, before the click's history is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Registration,
    /// `sale`: a first deposit, or a repeat one when it has a new tid after a first deposit.
    Sale,
    FirstDeposit,
    RepeatDeposit,
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unknown event {name:?}: expected registration, sale, resale, first_deposit_…, recurring_deposit_… or one of the integration's custom events ({})", custom.join(", "))]
    Unknown { name: String, custom: Vec<String> },
}

/// The longest event name accepted.
pub const MAX_EVENT_LEN: usize = 64;

/// Names an event (already lower-cased); `custom` are the integration's own events.
pub fn parse(name: &str, custom: &[String]) -> Result<Event, EventError> {
    Ok(match name {
        "registration" | "reg" | "lead" => Event::Registration,
        "sale" => Event::Sale,
        "resale" | "rebill" => Event::RepeatDeposit,
        n if n.starts_with("first_deposit") => Event::FirstDeposit,
        n if n.starts_with("recurring_deposit") => Event::RepeatDeposit,
        n if n.len() <= MAX_EVENT_LEN && custom.iter().any(|c| c == n) => Event::Custom(n.to_string()),
        n => {
            return Err(EventError::Unknown {
                name: n.chars().take(MAX_EVENT_LEN).collect(),
                custom: custom.to_vec(),
            })
        }
    })
}

/// Whether `name` is one of the standard events (not a custom one).
pub fn is_standard(name: &str) -> bool {
    parse(name, &[]).is_ok()
}

/// A conversion as it will be counted: its kind and the key that makes it count once
/// per click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub kind: Kind,
    pub dedup_key: String,
}

/// The first deposit already recorded for the click, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstDepositSeen<'a> {
    pub tid: Option<&'a str>,
}

/// Decides how the event counts, given the click's first deposit (if one is recorded),
/// the postback's tid and its fingerprint (the dedup key of a repeat deposit without tid).
pub fn count(event: &Event, tid: Option<&str>, first: Option<FirstDepositSeen>, fingerprint: &str) -> Counted {
    let repeat = |tid: Option<&str>| Counted {
        kind: Kind::RepeatDeposit,
        dedup_key: match tid {
            Some(tid) => format!("rd:tid:{tid}"),
            None => format!("rd:fp:{fingerprint}"),
        },
    };
    let first_deposit = Counted {
        kind: Kind::FirstDeposit,
        dedup_key: "fd".into(),
    };
    match event {
        Event::Registration => Counted {
            kind: Kind::Registration,
            dedup_key: "reg".into(),
        },
        Event::FirstDeposit => first_deposit,
        Event::RepeatDeposit => repeat(tid),
        Event::Sale => match (first, tid) {
            // A sale with a tid other than the first deposit's is a repeat deposit.
            (Some(fd), Some(tid)) if fd.tid != Some(tid) => repeat(Some(tid)),
            _ => first_deposit,
        },
        Event::Custom(name) => Counted {
            kind: Kind::Custom,
            dedup_key: format!("custom:{name}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn custom() -> Vec<String> {
        vec!["conf".to_string()]
    }

    #[test]
    fn names_from_the_document() {
        assert_eq!(parse("registration", &[]), Ok(Event::Registration));
        assert_eq!(parse("sale", &[]), Ok(Event::Sale));
        assert_eq!(parse("first_deposit_", &[]), Ok(Event::FirstDeposit));
        assert_eq!(parse("first_deposit_casino", &[]), Ok(Event::FirstDeposit));
        assert_eq!(parse("resale", &[]), Ok(Event::RepeatDeposit));
        assert_eq!(parse("recurring_deposit_", &[]), Ok(Event::RepeatDeposit));
        assert_eq!(parse("conf", &custom()), Ok(Event::Custom("conf".into())));
        assert!(parse("conf", &[]).is_err());
        assert!(is_standard("sale") && !is_standard("conf"));
    }

    #[test]
    fn sale_after_a_first_deposit_with_a_new_tid_is_a_repeat() {
        let seen = FirstDepositSeen { tid: Some("t1") };
        assert_eq!(count(&Event::Sale, None, None, "f").kind, Kind::FirstDeposit);
        assert_eq!(count(&Event::Sale, Some("t1"), None, "f").kind, Kind::FirstDeposit);
        // The first deposit's postback again: still the first deposit (a duplicate).
        assert_eq!(
            count(&Event::Sale, Some("t1"), Some(seen), "f").kind,
            Kind::FirstDeposit
        );
        assert_eq!(count(&Event::Sale, None, Some(seen), "f").kind, Kind::FirstDeposit);
        assert_eq!(
            count(&Event::Sale, Some("t2"), Some(seen), "f"),
            Counted {
                kind: Kind::RepeatDeposit,
                dedup_key: "rd:tid:t2".into()
            }
        );
        assert_eq!(
            count(&Event::Sale, Some("t2"), Some(FirstDepositSeen { tid: None }), "f").kind,
            Kind::RepeatDeposit
        );
    }

    #[test]
    fn repeat_deposits_count_once_per_tid_or_content() {
        assert_eq!(
            count(&Event::RepeatDeposit, Some("e1"), None, "f").dedup_key,
            "rd:tid:e1"
        );
        assert_eq!(count(&Event::RepeatDeposit, None, None, "abc").dedup_key, "rd:fp:abc");
        assert_eq!(count(&Event::Registration, Some("x"), None, "f").dedup_key, "reg");
        assert_eq!(
            count(&Event::Custom("conf".into()), None, None, "f").dedup_key,
            "custom:conf"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(name in "\\PC{0,80}") {
            let _ = parse(&name, &custom());
        }
    }
}
