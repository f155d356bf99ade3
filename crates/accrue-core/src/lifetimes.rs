//! Named lifetime definitions of points: when points accrued under one become usable
//! and when they expire. A program keeps several (each with the external id back
//! offices name it by, as Loymax's `lifeTimeDefinitionExternalId`) and may mark one its
//! default. Calendar boundaries are the program's local ones.

use crate::offers::local_time;
use crate::Millis;
use chrono::{Datelike, FixedOffset, Months, NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

const DAY: Millis = 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimeDefinition {
    pub name: String,
    /// Points become usable this many days after they are accrued.
    #[serde(default)]
    pub activation_delay_days: u32,
    pub expiry: Expiry,
}

/// When points expire, counted from when they become usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expiry {
    Never,
    /// `days` days after activation.
    AfterDays {
        days: u32,
    },
    /// The same day of the month `months` months after activation.
    AfterMonths {
        months: u32,
    },
    /// At the end of the month `months_after` months after the month of activation:
    /// 0 is the end of that month, 1 the end of the next.
    EndOfMonth {
        months_after: u32,
    },
    /// At the end of the year `years_after` years after the year of activation.
    EndOfYear {
        years_after: u32,
    },
}

/// When points accrued at some moment activate and expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub activates_at: Option<Millis>,
    pub expires_at: Option<Millis>,
}

impl LifetimeDefinition {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err("name must have 1 to 200 characters".into());
        }
        if self.activation_delay_days > 3650 {
            return Err("activation_delay_days must be 0 to 3650".into());
        }
        let fits = match self.expiry {
            Expiry::Never => true,
            Expiry::AfterDays { days } => (1..=36_500).contains(&days),
            Expiry::AfterMonths { months } => (1..=1200).contains(&months),
            Expiry::EndOfMonth { months_after } => months_after <= 1200,
            Expiry::EndOfYear { years_after } => years_after <= 100,
        };
        if !fits {
            return Err("expiry is out of range (days 1 to 36500, months 1 to 1200, years 0 to 100)".into());
        }
        Ok(())
    }

    /// The span of points accrued at `at` in a program `utc_offset_minutes` from UTC.
    pub fn span(&self, at: Millis, utc_offset_minutes: i32) -> Span {
        let activates = at + i64::from(self.activation_delay_days) * DAY;
        let expires = match self.expiry {
            Expiry::Never => None,
            Expiry::AfterDays { days } => Some(activates + i64::from(days) * DAY),
            Expiry::AfterMonths { months } => shift_months(activates, months, utc_offset_minutes),
            Expiry::EndOfMonth { months_after } => {
                let day = local_time(activates, utc_offset_minutes).date().with_day(1);
                day.and_then(|first| first.checked_add_months(Months::new(months_after + 1)))
                    .and_then(|next| midnight(next, utc_offset_minutes))
            }
            Expiry::EndOfYear { years_after } => {
                let year = local_time(activates, utc_offset_minutes).year() + years_after as i32 + 1;
                NaiveDate::from_ymd_opt(year, 1, 1).and_then(|d| midnight(d, utc_offset_minutes))
            }
        };
        Span {
            activates_at: (self.activation_delay_days > 0).then_some(activates),
            expires_at: expires,
        }
    }
}

/// The same local time `months` months later (the month's last day when it is shorter).
fn shift_months(at: Millis, months: u32, utc_offset_minutes: i32) -> Option<Millis> {
    let local = local_time(at, utc_offset_minutes).checked_add_months(Months::new(months))?;
    let zone = FixedOffset::east_opt(utc_offset_minutes * 60)?;
    Some(zone.from_local_datetime(&local).single()?.timestamp_millis())
}

/// Local midnight at the start of `day`, in ms since the epoch.
fn midnight(day: NaiveDate, utc_offset_minutes: i32) -> Option<Millis> {
    let zone = FixedOffset::east_opt(utc_offset_minutes * 60)?;
    let start = zone.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).single()?;
    Some(start.timestamp_millis())
}

/// Whether `text` can be an external id: 1 to 100 characters, no control characters.
pub fn is_external_id(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= 100 && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use proptest::prelude::*;

    fn at(text: &str) -> Millis {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn def(activation_delay_days: u32, expiry: Expiry) -> LifetimeDefinition {
        LifetimeDefinition {
            name: "test".into(),
            activation_delay_days,
            expiry,
        }
    }

    #[test]
    fn spans_follow_the_definition() {
        let t = at("2026-01-31 10:00");
        assert_eq!(def(0, Expiry::Never).span(t, 0), Span::default());
        let days = def(14, Expiry::AfterDays { days: 30 }).span(t, 0);
        assert_eq!(days.activates_at, Some(at("2026-02-14 10:00")));
        assert_eq!(days.expires_at, Some(at("2026-03-16 10:00")));
        let month = def(0, Expiry::AfterMonths { months: 1 }).span(t, 0);
        assert_eq!(
            month.expires_at,
            Some(at("2026-02-28 10:00")),
            "a shorter month ends on its last day"
        );
        let next = def(0, Expiry::EndOfMonth { months_after: 1 }).span(t, 0);
        assert_eq!(next.expires_at, Some(at("2026-03-01 00:00")), "the end of next month");
        let year = def(0, Expiry::EndOfYear { years_after: 0 }).span(t, 0);
        assert_eq!(year.expires_at, Some(at("2027-01-01 00:00")));
    }

    #[test]
    fn calendar_boundaries_are_the_programs() {
        // 23:30 UTC on 31 March is 1 April in Moscow: the month is April there.
        let t = at("2026-03-31 23:30");
        let end = def(0, Expiry::EndOfMonth { months_after: 0 }).span(t, 180);
        assert_eq!(end.expires_at, Some(at("2026-04-30 21:00")));
    }

    #[test]
    fn out_of_range_definitions_are_refused() {
        assert!(def(0, Expiry::AfterDays { days: 0 }).validate().is_err());
        assert!(def(4000, Expiry::Never).validate().is_err());
        assert!(def(0, Expiry::EndOfYear { years_after: 101 }).validate().is_err());
        assert!(def(0, Expiry::EndOfMonth { months_after: 0 }).validate().is_ok());
        assert!(is_external_id("BONUS-365") && !is_external_id(" ") && !is_external_id("a\nb"));
    }

    proptest! {
        #[test]
        fn points_expire_after_they_activate(
            t in 0_i64..4_000_000_000_000,
            delay in 0_u32..400,
            n in 0_u32..50,
            offset in -720_i32..=840,
            kind in 0_u8..4,
        ) {
            let expiry = match kind {
                0 => Expiry::AfterDays { days: n + 1 },
                1 => Expiry::AfterMonths { months: n + 1 },
                2 => Expiry::EndOfMonth { months_after: n },
                _ => Expiry::EndOfYear { years_after: n % 100 },
            };
            let span = def(delay, expiry).span(t, offset);
            let activates = span.activates_at.unwrap_or(t);
            prop_assert!(span.expires_at.unwrap() > activates);
        }
    }
}
