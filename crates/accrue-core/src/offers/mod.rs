//! The offers engine: prices a purchase cheque with a program's offers.
//!
//! - [`calculate`] runs the offers over a cheque: discounts per line, bonus rates, the
//!   share payable with bonuses, messages, and which offers applied.
//! - [`accrual`] turns a calculation and the bonus payment into bonuses accrued per line.
//! - [`refund_share`] tells what a refund of some lines gives back and takes back.
//! - [`distribute`] is the one proportional split used everywhere.
//!
//! All amounts are minor units. The rules (order, stacking, rounding, caps) are described
//! for operators in `docs/offers.md`.

mod accrual;
mod calculate;
mod caps;
mod context;
mod matching;
mod model;
mod rate;
mod refund;
mod rounding;
mod validate;

#[cfg(test)]
mod tests;

pub use accrual::{accrual, Accrual, AccrualError, LineAccrual, OfferUsage};
pub use calculate::{calculate, Applied, BonusRate, Calculation, LineResult};
pub use context::{
    local_time, period_start, Catalogue, Cheque, Context, IssuedCoupon, Line, MemberFacts, Usage, UsageSoFar,
};
pub use model::{Cap, Condition, Effect, Offer, Period, Target, Weekday};
pub use rate::Rate;
pub use refund::{refund_share, RefundError, RefundLine, RefundPart, RefundShare, RefundedLine};
pub use rounding::distribute;
pub use validate::{validate_offers, FieldError};
