//! Member statuses: a ladder of levels by how much the member bought for within a
//! recent period (Loymax's status systems, `User/Status`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSystem {
    pub name: String,
    /// How clients refer to it (`StatusSystem`).
    pub logical_name: String,
    #[serde(default)]
    pub description: String,
    /// Purchases of this many days count.
    pub period_days: u32,
    /// From the lowest threshold up.
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub name: String,
    /// What the member must have bought for, in minor units of the program's currency.
    pub threshold: i64,
    #[serde(default)]
    pub description: Option<String>,
    /// What the level gives ("5 % back").
    #[serde(default)]
    pub preferences: Option<String>,
}

/// Where a member stands: the level reached (if any) and the next threshold (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing<'a> {
    pub level: Option<&'a Level>,
    pub next: Option<i64>,
}

impl StatusSystem {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.logical_name.trim().is_empty() {
            return Err("status: name and logical_name must not be empty".into());
        }
        if !(1..=3650).contains(&self.period_days) {
            return Err("status: period_days must be 1 to 3650".into());
        }
        if self.levels.is_empty() || self.levels.iter().any(|l| l.name.trim().is_empty() || l.threshold < 0) {
            return Err("status: levels need names and thresholds of 0 or more".into());
        }
        if self.levels.windows(2).any(|w| w[0].threshold >= w[1].threshold) {
            return Err("status: thresholds must rise from level to level".into());
        }
        Ok(())
    }

    /// The standing of a member who bought for `value`.
    pub fn standing(&self, value: i64) -> Standing<'_> {
        Standing {
            level: self.levels.iter().rev().find(|l| value >= l.threshold),
            next: self.levels.iter().find(|l| value < l.threshold).map(|l| l.threshold),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder(thresholds: &[i64]) -> StatusSystem {
        let levels = thresholds
            .iter()
            .map(|t| Level {
                name: format!("L{t}"),
                threshold: *t,
                description: None,
                preferences: None,
            })
            .collect();
        StatusSystem {
            name: "S".into(),
            logical_name: "StatusSystem".into(),
            description: String::new(),
            period_days: 180,
            levels,
        }
    }

    #[test]
    fn standing_climbs_the_ladder() {
        let s = ladder(&[100, 500]);
        let at = |v| {
            let st = s.standing(v);
            (st.level.map(|l| l.threshold), st.next)
        };
        assert_eq!(at(0), (None, Some(100)));
        assert_eq!(at(100), (Some(100), Some(500)));
        assert_eq!(at(499), (Some(100), Some(500)));
        assert_eq!(at(10_000), (Some(500), None));
    }

    #[test]
    fn ladders_must_rise() {
        assert!(ladder(&[0, 100]).validate().is_ok());
        assert!(ladder(&[100, 100]).validate().is_err());
        assert!(ladder(&[]).validate().is_err());
        assert!(ladder(&[-1]).validate().is_err());
        let mut s = ladder(&[0]);
        s.period_days = 0;
        assert!(s.validate().is_err());
    }
}
