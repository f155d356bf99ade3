//! What an app shows of its member: the points it can spend, those not active yet, and
//! its card, in the program's purchase currency.

use super::pricing;
use accrue_store::cards::CardFilter;
use accrue_store::{Currency, Member, Store, StoreError};

#[derive(Debug, Clone)]
pub struct Profile {
    pub member: Member,
    /// Minor units of `currency`.
    pub available: i64,
    pub not_activated: i64,
    /// The member's first card.
    pub card: Option<String>,
    pub currency: Currency,
}

pub async fn profile(store: &Store, program_id: i64, member: Member) -> Result<Profile, StoreError> {
    let currency = pricing::currency(store, program_id).await?;
    let balance = store
        .balances(program_id, member.id)
        .await?
        .into_iter()
        .find(|b| b.currency_id == currency.id);
    let filter = CardFilter {
        member_id: Some(member.id),
        count: 1,
        ..Default::default()
    };
    let card = store
        .cards(program_id, filter)
        .await?
        .into_iter()
        .next()
        .map(|c| c.number);
    Ok(Profile {
        available: balance.as_ref().map_or(0, |b| b.available),
        not_activated: balance.as_ref().map_or(0, |b| b.not_activated),
        card,
        currency,
        member,
    })
}
