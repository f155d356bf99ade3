//! Holds: points reserved now and captured (fully or in part) or voided later. A hold
//! resolves exactly once; after its deadline only the server's expiry may resolve it.

use crate::Millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Active,
    Captured,
    Voided,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Active => "active",
            HoldState::Captured => "captured",
            HoldState::Voided => "voided",
            HoldState::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<HoldState> {
        [
            HoldState::Active,
            HoldState::Captured,
            HoldState::Voided,
            HoldState::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("hold is already {0}")]
    AlreadyResolved(&'static str),
    #[error("hold expired")]
    Expired,
    #[error("cannot capture {requested}: only {held} is held")]
    CaptureExceedsHold { requested: i64, held: i64 },
    #[error("capture amount must be greater than zero")]
    NotPositive,
}

/// What resolving a hold does with its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub state: HoldState,
    /// Goes to redemption.
    pub captured: i64,
    /// Goes back to the member.
    pub released: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub amount: i64,
    pub state: HoldState,
    pub expires_at: Millis,
}

impl Hold {
    fn open(&self, now: Millis) -> Result<(), HoldError> {
        if self.state != HoldState::Active {
            return Err(HoldError::AlreadyResolved(self.state.as_str()));
        }
        if now >= self.expires_at {
            return Err(HoldError::Expired);
        }
        Ok(())
    }

    /// Captures `amount` (the whole hold when `None`) and releases the rest.
    pub fn capture(&self, amount: Option<i64>, now: Millis) -> Result<Resolution, HoldError> {
        self.open(now)?;
        let captured = amount.unwrap_or(self.amount);
        if captured <= 0 {
            return Err(HoldError::NotPositive);
        }
        if captured > self.amount {
            return Err(HoldError::CaptureExceedsHold {
                requested: captured,
                held: self.amount,
            });
        }
        Ok(Resolution {
            state: HoldState::Captured,
            captured,
            released: self.amount - captured,
        })
    }

    pub fn void(&self, now: Millis) -> Result<Resolution, HoldError> {
        self.open(now)?;
        Ok(Resolution {
            state: HoldState::Voided,
            captured: 0,
            released: self.amount,
        })
    }

    /// The server's own resolution of a hold whose deadline has passed.
    pub fn expire(&self, now: Millis) -> Option<Resolution> {
        (self.state == HoldState::Active && now >= self.expires_at).then_some(Resolution {
            state: HoldState::Expired,
            captured: 0,
            released: self.amount,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Hold = Hold {
        amount: 100,
        state: HoldState::Active,
        expires_at: 1000,
    };

    #[test]
    fn capture_in_part_releases_the_rest() {
        assert_eq!(
            HOLD.capture(Some(30), 10),
            Ok(Resolution {
                state: HoldState::Captured,
                captured: 30,
                released: 70
            })
        );
        assert_eq!(HOLD.capture(None, 10).unwrap().captured, 100);
        assert_eq!(
            HOLD.capture(Some(101), 10),
            Err(HoldError::CaptureExceedsHold {
                requested: 101,
                held: 100
            })
        );
        assert_eq!(HOLD.capture(Some(0), 10), Err(HoldError::NotPositive));
    }

    #[test]
    fn a_resolved_or_late_hold_cannot_be_resolved_again() {
        let voided = Hold {
            state: HoldState::Voided,
            ..HOLD
        };
        assert_eq!(voided.capture(None, 10), Err(HoldError::AlreadyResolved("voided")));
        assert_eq!(voided.void(10), Err(HoldError::AlreadyResolved("voided")));
        assert_eq!(voided.expire(2000), None);
        assert_eq!(HOLD.capture(None, 1000), Err(HoldError::Expired));
        assert_eq!(HOLD.expire(999), None);
        assert_eq!(HOLD.expire(1000).unwrap().released, 100);
    }
}
