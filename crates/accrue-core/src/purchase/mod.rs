//! A purchase at a till or web shop: which operation may follow which, why an operation
//! is refused, and the program's processing settings. The amounts come from the offers
//! engine; this module only keeps the flow honest.

use serde::{Deserialize, Serialize};

mod record;

pub use record::{EntryItem, EntryReward, Goods, PricedCheque, PurchaseEntry};

/// Why a purchase operation was refused, in no face's terms: each face maps these to
/// its own codes and messages. A refusal changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "rejection")]
pub enum Rejection {
    #[error("invalid request: {reason}")]
    Invalid { reason: String },
    /// A payment or accrual needs a member, and none was identified.
    #[error("no member is identified")]
    MemberUnknown,
    #[error("the member may not transact")]
    MemberBlocked,
    /// A payment of nothing.
    #[error("the amount to pay must be greater than zero")]
    NothingToPay,
    #[error("not enough points: {available} available")]
    NotEnoughPoints { available: i64 },
    /// More than the cheque allows to be paid with points.
    #[error("the payment is over the cheque's limit of {limit}")]
    OverPaymentLimit { limit: i64 },
    /// More than the currency allows per operation or per balance.
    #[error("the amount is over the currency's limit")]
    OverAmountLimit,
    /// The cheque is not the one priced (or paid for).
    #[error("the cheque is not the one priced{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ChequeChanged { detail: Option<String> },
    #[error("operations out of order: {order:?}")]
    OutOfOrder { order: Order },
    #[error("no such purchase")]
    PurchaseNotFound,
    #[error("the purchase is already confirmed")]
    PurchaseConfirmed,
    #[error("the purchase is canceled")]
    PurchaseCanceled,
    #[error("the purchase belongs to another member")]
    OtherMembersPurchase,
    /// The points paid were released before Confirm (the hold expired or was voided).
    #[error("the payment with points was already released")]
    PaymentReleased,
    #[error("no such operation")]
    OperationNotFound,
    #[error("the operation is already canceled")]
    OperationCanceled,
    #[error("the purchase cannot be refunded: {reason}")]
    NotRefundable { reason: String },
}

/// Which order rule a refused operation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// A refund needs a confirmed purchase.
    RefundBeforeConfirm,
    /// Points cannot pay once the accrual is set.
    PaymentAfterBonus,
    /// Only payments and accruals can be canceled one by one.
    NotCancelable,
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
pub fn check_order(state: Option<State>, bonus_done: bool, next: Operation) -> Result<(), Rejection> {
    use Operation::*;
    let out_of_order = |order| Err(Rejection::OutOfOrder { order });
    match (state, next) {
        (_, Calculate) => Ok(()),
        (None, Payment | Bonus) => Ok(()),
        (None, _) => Err(Rejection::PurchaseNotFound),
        (Some(State::Canceled), _) => Err(Rejection::PurchaseCanceled),
        (Some(State::Confirmed), Refund) => Ok(()),
        (Some(State::Confirmed), _) => Err(Rejection::PurchaseConfirmed),
        (Some(State::Open), Refund) => out_of_order(Order::RefundBeforeConfirm),
        (Some(State::Open), Payment) if bonus_done => out_of_order(Order::PaymentAfterBonus),
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
    /// The program's member statuses, if it has them.
    pub status: Option<crate::status::StatusSystem>,
    /// Members are told this many days before their points expire (never when absent).
    pub expiry_notice_days: Option<u32>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            activation_delay_days: 0,
            bonus_lifetime_days: None,
            auto_cancel_minutes: 60,
            device_token_minutes: 24 * 60,
            utc_offset_minutes: 0,
            status: None,
            expiry_notice_days: None,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.activation_delay_days > 3650 || self.bonus_lifetime_days.is_some_and(|d| d == 0 || d > 36500) {
            return Err("activation_delay_days must be 0 to 3650, bonus_lifetime_days 1 to 36500".into());
        }
        if self.expiry_notice_days.is_some_and(|d| !(1..=365).contains(&d)) {
            return Err("expiry_notice_days must be 1 to 365".into());
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
        self.status.as_ref().map_or(Ok(()), |s| s.validate())
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
        assert_eq!(check_order(None, false, Confirm), Err(Rejection::PurchaseNotFound));
        assert!(check_order(Some(State::Open), false, Payment).is_ok());
        assert_eq!(
            check_order(Some(State::Open), true, Payment),
            Err(Rejection::OutOfOrder {
                order: Order::PaymentAfterBonus
            })
        );
        assert_eq!(
            check_order(Some(State::Open), false, Refund),
            Err(Rejection::OutOfOrder {
                order: Order::RefundBeforeConfirm
            })
        );
        assert!(check_order(Some(State::Confirmed), true, Refund).is_ok());
        assert_eq!(
            check_order(Some(State::Confirmed), true, Cancel),
            Err(Rejection::PurchaseConfirmed)
        );
        assert_eq!(
            check_order(Some(State::Canceled), true, Confirm),
            Err(Rejection::PurchaseCanceled)
        );
    }

    #[test]
    fn names_round_trip() {
        for o in [Operation::Calculate, Operation::CancelOperation, Operation::Refund] {
            assert_eq!(Operation::parse(o.as_str()), Some(o));
        }
        assert_eq!(State::parse("confirmed"), Some(State::Confirmed));
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
