//! A purchase at a till or web shop: which operation may follow which, the result codes
//! tills know, and the program's processing settings. The amounts come from the offers
//! engine; this module only keeps the flow honest.

use serde::{Deserialize, Serialize};

mod record;

pub use record::{EntryItem, EntryReward, Goods, PricedCheque, PurchaseEntry};

/// Result codes of processing operations, as Loymax clients parse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Code {
    Ok,
    SystemError,
    ParseError,
    CardNotFound,
    NotEnoughMoney,
    CardBlocked,
    #[serde(rename = "NotUniqueOperationID")]
    NotUniqueOperationId,
    OperationNotFound,
    OperationIsConfirmed,
    OperationIsCanceled,
    PurchaseNotFound,
    DifferentCheque,
    IncorrectOperationOrder,
    LargePaymentAmount,
    BusinessError,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "Ok",
            Code::SystemError => "SystemError",
            Code::ParseError => "ParseError",
            Code::CardNotFound => "CardNotFound",
            Code::NotEnoughMoney => "NotEnoughMoney",
            Code::CardBlocked => "CardBlocked",
            Code::NotUniqueOperationId => "NotUniqueOperationID",
            Code::OperationNotFound => "OperationNotFound",
            Code::OperationIsConfirmed => "OperationIsConfirmed",
            Code::OperationIsCanceled => "OperationIsCanceled",
            Code::PurchaseNotFound => "PurchaseNotFound",
            Code::DifferentCheque => "DifferentCheque",
            Code::IncorrectOperationOrder => "IncorrectOperationOrder",
            Code::LargePaymentAmount => "LargePaymentAmount",
            Code::BusinessError => "BusinessError",
        }
    }
}

/// A refusal: the code and the message for the cashier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    pub code: Code,
    pub message: String,
}

impl Refusal {
    pub fn new(code: Code, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Payment and/or Bonus done, waiting for Confirm (or Cancel, or the auto-cancel).
    Open,
    Confirmed,
    Canceled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Confirmed => "confirmed",
            State::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        [State::Open, State::Confirmed, State::Canceled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Calculate,
    Payment,
    Bonus,
    Confirm,
    Cancel,
    CancelOperation,
    Refund,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Calculate => "calculate",
            Operation::Payment => "payment",
            Operation::Bonus => "bonus",
            Operation::Confirm => "confirm",
            Operation::Cancel => "cancel",
            Operation::CancelOperation => "cancel_operation",
            Operation::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Operation> {
        use Operation::*;
        [Calculate, Payment, Bonus, Confirm, Cancel, CancelOperation, Refund]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// Whether `next` may run on a purchase in `state` (`None`: no purchase yet) whose
/// bonus accrual has (`bonus_done`) or has not been computed.
pub fn check_order(state: Option<State>, bonus_done: bool, next: Operation) -> Result<(), Refusal> {
    use Operation::*;
    let refuse = |code, message: &str| Err(Refusal::new(code, message));
    match (state, next) {
        (_, Calculate) => Ok(()),
        (None, Payment | Bonus) => Ok(()),
        (None, _) => refuse(Code::PurchaseNotFound, "Покупка не найдена."),
        (Some(State::Canceled), _) => refuse(Code::OperationIsCanceled, "Покупка отменена."),
        (Some(State::Confirmed), Refund) => Ok(()),
        (Some(State::Confirmed), _) => refuse(Code::OperationIsConfirmed, "Покупка уже подтверждена."),
        (Some(State::Open), Refund) => refuse(
            Code::IncorrectOperationOrder,
            "Возврат возможен только после подтверждения покупки.",
        ),
        (Some(State::Open), Payment) if bonus_done => refuse(
            Code::IncorrectOperationOrder,
            "Оплата бонусами невозможна после начисления бонусов.",
        ),
        (Some(State::Open), _) => Ok(()),
    }
}

/// A program's processing settings (admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Accrued bonuses become usable this many days after Confirm (0: at once).
    pub activation_delay_days: u32,
    /// Accrued bonuses expire this many days after they activate (none: never).
    pub bonus_lifetime_days: Option<u32>,
    /// A purchase not confirmed within this many minutes is canceled.
    pub auto_cancel_minutes: u32,
    /// Lifetime of the tokens devices get.
    pub device_token_minutes: u32,
    /// The program's offset from UTC: offers' dates, times, weekdays and cap periods use
    /// its local time.
    pub utc_offset_minutes: i32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            activation_delay_days: 0,
            bonus_lifetime_days: None,
            auto_cancel_minutes: 60,
            device_token_minutes: 24 * 60,
            utc_offset_minutes: 0,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.activation_delay_days > 3650 || self.bonus_lifetime_days.is_some_and(|d| d == 0 || d > 36500) {
            return Err("activation_delay_days must be 0 to 3650, bonus_lifetime_days 1 to 36500".into());
        }
        if !(1..=7 * 24 * 60).contains(&self.auto_cancel_minutes) {
            return Err("auto_cancel_minutes must be 1 to 10080".into());
        }
        if !(1..=30 * 24 * 60).contains(&self.device_token_minutes) {
            return Err("device_token_minutes must be 1 to 43200".into());
        }
        if !(-12 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err("utc_offset_minutes must be -720 to 840".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_runs_in_order() {
        use Operation::*;
        assert!(check_order(None, false, Calculate).is_ok());
        assert!(check_order(None, false, Payment).is_ok());
        assert_eq!(
            check_order(None, false, Confirm).unwrap_err().code,
            Code::PurchaseNotFound
        );
        assert!(check_order(Some(State::Open), false, Payment).is_ok());
        assert_eq!(
            check_order(Some(State::Open), true, Payment).unwrap_err().code,
            Code::IncorrectOperationOrder
        );
        assert_eq!(
            check_order(Some(State::Open), false, Refund).unwrap_err().code,
            Code::IncorrectOperationOrder
        );
        assert!(check_order(Some(State::Confirmed), true, Refund).is_ok());
        assert_eq!(
            check_order(Some(State::Confirmed), true, Cancel).unwrap_err().code,
            Code::OperationIsConfirmed
        );
        assert_eq!(
            check_order(Some(State::Canceled), true, Confirm).unwrap_err().code,
            Code::OperationIsCanceled
        );
    }

    #[test]
    fn names_round_trip() {
        for o in [Operation::Calculate, Operation::CancelOperation, Operation::Refund] {
            assert_eq!(Operation::parse(o.as_str()), Some(o));
        }
        assert_eq!(State::parse("confirmed"), Some(State::Confirmed));
        assert_eq!(
            serde_json::to_value(Code::NotUniqueOperationId).unwrap(),
            "NotUniqueOperationID"
        );
        assert_eq!(Code::NotUniqueOperationId.as_str(), "NotUniqueOperationID");
    }

    #[test]
    fn settings_are_checked() {
        assert!(Settings::default().validate().is_ok());
        let zero = Settings {
            auto_cancel_minutes: 0,
            ..Settings::default()
        };
        assert!(zero.validate().is_err());
    }
}
