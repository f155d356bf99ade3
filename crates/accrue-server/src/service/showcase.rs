//! What members are shown of the program's offers: those the operator gave a showcase,
//! while they run, each with the shops it holds at.

use accrue_core::offers::{local_time, Offer};
use accrue_core::Millis;
use accrue_store::merchants::Merchant;
use accrue_store::{Store, StoreError};

pub struct ShownOffer {
    /// The offer's number, which members' apps know it by.
    pub id: i64,
    pub offer: Offer,
    /// When the operator made it: the offer's start when its period names none.
    pub created_at: Millis,
    /// The listed shops it holds at.
    pub merchants: Vec<Merchant>,
}

/// The enabled offers with a showcase that are not over, highest priority first.
pub async fn offers(store: &Store, program_id: i64) -> Result<Vec<ShownOffer>, StoreError> {
    let settings = store.processing_settings(program_id).await?;
    let now = local_time(store.now(), settings.utc_offset_minutes);
    let merchants = store.listed_merchants(program_id).await?;
    let mut shown: Vec<ShownOffer> = store
        .offers(program_id, true)
        .await?
        .into_iter()
        .filter_map(|stored| {
            let offer: Offer = serde_json::from_value(stored.definition).ok()?;
            offer.showcase.as_ref()?;
            if offer.period().1.is_some_and(|until| until <= now) {
                return None;
            }
            let holds_at = |m: &&Merchant| offer.merchant_codes().is_none_or(|codes| codes.contains(&m.code));
            Some(ShownOffer {
                id: stored.id,
                created_at: stored.created_at,
                merchants: merchants.iter().filter(holds_at).cloned().collect(),
                offer,
            })
        })
        .collect();
    shown.sort_by_key(|o| (-o.offer.priority, o.id));
    Ok(shown)
}
