//! The result codes tills switch on, and the words the cashier sees: how the Loymax face
//! says the service's face-neutral rejections.

use accrue_core::purchase::{Order, Rejection};

/// Result codes of processing operations, as Loymax clients parse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok,
    ParseError,
    CardNotFound,
    NotEnoughMoney,
    CardBlocked,
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

/// A refused operation: the code and the message for the cashier.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A key used before with another request.
pub fn reused_key() -> Refusal {
    Refusal::new(
        Code::NotUniqueOperationId,
        "Операция с таким идентификатором уже выполнена с другими данными.",
    )
}

impl From<&Rejection> for Refusal {
    fn from(r: &Rejection) -> Refusal {
        use Code::*;
        let (code, message) = match r {
            Rejection::Invalid { reason } => (ParseError, reason.clone()),
            Rejection::MemberUnknown => (CardNotFound, "Покупатель не определён: нужен токен участника.".into()),
            Rejection::MemberBlocked => (CardBlocked, "Счёт участника заблокирован.".into()),
            Rejection::NothingToPay => (ParseError, "Сумма оплаты должна быть больше нуля.".into()),
            Rejection::NotEnoughPoints { .. } => (NotEnoughMoney, "Недостаточно бонусов.".into()),
            Rejection::OverPaymentLimit { .. } => {
                (LargePaymentAmount, "Сумма оплаты бонусами больше доступной.".into())
            }
            Rejection::OverAmountLimit => (BusinessError, "Сумма больше допустимой.".into()),
            Rejection::ChequeChanged { detail: Some(d) } => {
                (DifferentCheque, format!("Чек не совпадает с оплаченным: {d}."))
            }
            Rejection::ChequeChanged { detail: None } => (DifferentCheque, "Чек отличается от рассчитанного.".into()),
            Rejection::OutOfOrder { order } => (IncorrectOperationOrder, order_message(*order).into()),
            Rejection::PurchaseNotFound => (PurchaseNotFound, "Покупка не найдена.".into()),
            Rejection::PurchaseConfirmed => (OperationIsConfirmed, "Покупка уже подтверждена.".into()),
            Rejection::PurchaseCanceled => (OperationIsCanceled, "Покупка отменена.".into()),
            Rejection::OtherMembersPurchase => (BusinessError, "Покупка принадлежит другому участнику.".into()),
            Rejection::PaymentReleased => (
                BusinessError,
                "Оплата бонусами этой покупки уже отменена; отмените покупку.".into(),
            ),
            Rejection::OperationNotFound => (OperationNotFound, "Операция не найдена.".into()),
            Rejection::OperationCanceled => (OperationIsCanceled, "Операция уже отменена.".into()),
            Rejection::NotRefundable { reason } => (BusinessError, reason.clone()),
        };
        Refusal { code, message }
    }
}

fn order_message(order: Order) -> &'static str {
    match order {
        Order::RefundBeforeConfirm => "Возврат возможен только после подтверждения покупки.",
        Order::PaymentAfterBonus => "Оплата бонусами невозможна после начисления бонусов.",
        Order::NotCancelable => "Эту операцию нельзя отменить.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spelled_as_tills_parse_them() {
        assert_eq!(Code::NotUniqueOperationId.as_str(), "NotUniqueOperationID");
        let r = Refusal::from(&Rejection::NotEnoughPoints { available: 5 });
        assert_eq!(r.code.as_str(), "NotEnoughMoney");
        let r = Refusal::from(&Rejection::OutOfOrder {
            order: Order::PaymentAfterBonus,
        });
        assert_eq!(r.code, Code::IncorrectOperationOrder);
    }
}
