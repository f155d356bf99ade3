//! Hot, rarely changing data served from memory: admin keys, device tokens, programs and
//! their processing and tracker settings, currencies, enabled offers, catalogue groups and
//! goods' names, tracker links and integrations, webhook subscriptions, system accounts and
//! wallets; and the purchases this server has under way (their latest pricing, and the
//! purchase as its last step left it), which are not configuration and whose users check
//! or tolerate a stale value (see [`crate::purchases`]).
//!
//! Every entry is tagged with the cache's generation when its load began. A write that
//! changes such data marks its transaction ([`crate::Tx::changes_config`]); after the
//! commit the generation moves on, and every older entry is reloaded at its next use.
//! Servers sharing one PostgreSQL database tell each other: the transaction also sends
//! `NOTIFY accrue_config`, delivered at its commit, and each server's listener moves its
//! own generation on (and once more whenever its listening connection was lost, since
//! notices may have been missed meanwhile). Between another server's commit and the
//! notice's arrival — normally well under a millisecond on one network — that server's
//! change is not yet seen here.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The channel of change notices on PostgreSQL.
pub(crate) const CHANNEL: &str = "accrue_config";

/// Above this many entries a map starts again empty (tokens are many, and random).
const MAX_ENTRIES: usize = 100_000;

/// The cache's generation: entries loaded before the last change are stale.
#[derive(Debug, Default)]
pub(crate) struct Generation(AtomicU64);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Makes every entry loaded so far stale.
    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Values by key, each with the generation it was loaded in.
#[derive(Debug)]
pub(crate) struct Memo<K, V> {
    entries: RwLock<HashMap<K, (u64, V)>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// The value kept for `key`, unless it is older than `generation`.
    pub fn get(&self, key: &K, generation: u64) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((loaded, value)) if *loaded == generation => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value`, loaded in `generation` (read before the load began).
    pub fn put(&self, key: K, generation: u64, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }

    /// Drops what is kept for `key`.
    pub fn forget(&self, key: &K) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// Runs `$load` (an expression awaiting a `Result`) only when `$memo` has no current
/// value for `$key`, and keeps what it loads.
macro_rules! memoized {
    ($store:expr, $memo:ident, $key:expr, $load:expr) => {{
        let cache = &$store.inner.shared.cache;
        let generation = cache.generation.current();
        let key = $key;
        match cache.$memo.get(&key, generation) {
            Some(value) => Ok::<_, crate::StoreError>(value),
            None => {
                let value = $load?;
                cache.$memo.put(key, generation, value.clone());
                Ok::<_, crate::StoreError>(value)
            }
        }
    }};
}
pub(crate) use memoized;

/// [`memoized`] inside a write transaction: once the transaction has changed what the
/// cache keeps, the cache is neither read nor filled, since it may not hold what the
/// transaction sees. `$load` must read only rows that existed before the transaction.
macro_rules! memoized_in_tx {
    ($tx:expr, $memo:ident, $key:expr, $load:expr) => {{
        let cache = $tx.cache.clone();
        let generation = cache.generation.current();
        let trusted = !$tx.config_changed;
        let key = $key;
        match cache.$memo.get(&key, generation).filter(|_| trusted) {
            Some(value) => Ok::<_, crate::StoreError>(value),
            None => {
                let value = $load?;
                if trusted {
                    cache.$memo.put(key, generation, value.clone());
                }
                Ok::<_, crate::StoreError>(value)
            }
        }
    }};
}
pub(crate) use memoized_in_tx;

/// What is kept, by kind.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub generation: Generation,
    /// By the key's hash; only keys that exist.
    pub admin_keys: Memo<String, crate::AdminKey>,
    /// Programs by code; only programs that exist.
    pub programs: Memo<String, crate::Program>,
    /// By the token's hash, with the token's expiry; only tokens that exist.
    pub device_sessions: Memo<String, (crate::devices::DeviceSession, accrue_core::Millis)>,
    /// Devices with their merchant's code, by program and id.
    pub devices: Memo<(i64, i64), crate::devices::Device>,
    pub processing_settings: Memo<i64, accrue_core::purchase::Settings>,
    pub currencies: Memo<i64, Arc<[crate::Currency]>>,
    pub enabled_offers: Memo<i64, Arc<[accrue_core::offers::Offer]>>,
    /// The catalogue groups of goods by program and goods id; unknown goods have none.
    pub goods_groups: Memo<(i64, String), Arc<[String]>>,
    /// The names of goods by program and goods id, for purchase history; `None` for
    /// goods the catalogue lacks or that have no name.
    pub goods_names: Memo<(i64, String), Option<String>>,
    pub links: Memo<String, crate::tracker::Link>,
    pub integrations: Memo<String, crate::tracker::Integration>,
    pub tracker_settings: Memo<i64, crate::tracker::Settings>,
    pub referral_settings: Memo<i64, Arc<accrue_core::referral::ReferralSettings>>,
    pub subscriptions: Memo<i64, Arc<[crate::outbox::Subscription]>>,
    /// System accounts by currency and kind (they never change once made).
    pub system_accounts: Memo<(i64, &'static str), i64>,
    /// Members' wallets by currency and member, once they exist.
    pub wallets: Memo<(i64, i64), i64>,
    /// Purchases under way as this server last wrote them, by program and purchase key
    /// (see [`crate::purchases`]): the latest pricing, and on PostgreSQL the purchase with
    /// its live operations after a Payment or Bonus. Forgotten at Confirm and Cancel.
    pub pricings: Memo<(i64, String), crate::purchases::LastPricing>,
    pub open_purchases: Memo<(i64, String), crate::purchases::Written>,
}

/// Listens for other servers' change notices on PostgreSQL until aborted. Whenever it
/// is not sure to have heard every notice (at the start, after a lost connection) it
/// makes the whole cache stale. `started` is told once the first attempt to listen is
/// over, so that the store opens with the cache's first generation settled.
pub(crate) async fn listen(url: String, cache: Arc<Cache>, started: tokio::sync::oneshot::Sender<()>) {
    let mut started = Some(started);
    loop {
        let listening = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => listener.listen(CHANNEL).await.map(|()| listener),
            Err(e) => Err(e),
        };
        cache.generation.advance();
        if let Some(started) = started.take() {
            let _ = started.send(());
        }
        match listening {
            Ok(mut listener) => {
                // `Ok(None)`: the connection was lost (and is made again on the next
                // call); notices may have been missed meanwhile.
                while let Ok(notice) = listener.try_recv().await {
                    cache.generation.advance();
                    if notice.is_none() {
                        tracing::warn!("lost the connection that hears configuration changes; reconnecting");
                    }
                }
                cache.generation.advance();
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for configuration changes"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
