//! Hooks: what other features do when a purchase is confirmed, a purchase is refunded or
//! a registration finishes — referral rewards, event offers. A hook runs inside the
//! transaction of what happened, after it, so its writes commit with it or not at all:
//! a hook that fails undoes the operation, which its caller sees as the hook's error.
//! The purchase and registration code know nothing of the hooks registered.

use crate::purchases::Purchase;
use crate::{BoxFuture, StoreError, Tx};
use accrue_core::offers::RefundShare;
use std::sync::{Arc, RwLock};

/// What happened, with what the hooks may need of it.
#[derive(Debug)]
pub enum Happening<'a> {
    PurchaseConfirmed {
        purchase: &'a Purchase,
    },
    PurchaseRefunded {
        purchase: &'a Purchase,
        refund: &'a RefundShare,
    },
    RegistrationFinished {
        member_id: i64,
    },
}

pub trait Hook: Send + Sync {
    /// Runs in the transaction `tx` of program `program_id`.
    fn run<'t>(
        &'t self,
        tx: &'t mut Tx,
        program_id: i64,
        what: &'t Happening<'t>,
    ) -> BoxFuture<'t, Result<(), StoreError>>;
}

/// The hooks registered with a store, run in the order they were added.
#[derive(Default)]
pub(crate) struct Hooks(RwLock<Vec<Arc<dyn Hook>>>);

impl Hooks {
    pub(crate) fn add(&self, hook: Arc<dyn Hook>) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).push(hook);
    }

    fn all(&self) -> Vec<Arc<dyn Hook>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Whether a confirmed purchase sets nothing off in the program: its referrals reward no
/// purchase and no hook was added (event offers hear of registrations only). Keep in step
/// with [`run`].
pub(crate) async fn quiet_on_purchase(tx: &mut Tx, program_id: i64) -> Result<bool, StoreError> {
    Ok(tx.hooks.all().is_empty() && !crate::referrals::rewards_purchases(tx, program_id).await?)
}

/// Runs the store's own features (referral rewards, event offers), then every hook added, for what
/// happened, in `tx`.
pub(crate) async fn run(tx: &mut Tx, program_id: i64, what: Happening<'_>) -> Result<(), StoreError> {
    crate::referrals::on_happening(tx, program_id, &what).await?;
    crate::events::on_happening(tx, program_id, &what).await?;
    let hooks = tx.hooks.all();
    for hook in hooks {
        hook.run(tx, program_id, &what).await?;
    }
    Ok(())
}
