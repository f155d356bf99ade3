//! Member passwords: argon2id hashes, computed off the async threads.

use crate::ApiError;
use accrue_store::member_auth::SignInFailure;
use accrue_store::{Store, StoreError};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub const MIN_LENGTH: usize = 6;
pub const MAX_LENGTH: usize = 128;

pub fn validate(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        return Err(format!("password must be {MIN_LENGTH} to {MAX_LENGTH} characters"));
    }
    Ok(())
}

/// Hashing takes tens of milliseconds of a core; more at once than there are cores
/// only slows everything else down.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|e| crate::error::internal(&e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| crate::error::internal(&e.to_string()))?
    .map_err(|e| crate::error::internal(&e.to_string()))
}

/// Whether `password` matches the stored hash; a malformed hash never matches.
pub async fn verify(password: String, stored: String) -> bool {
    let Ok(_slot) = hashing_slots().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Checks a member's password within the program's attempt limit: the attempt is
/// counted before the (slow) hash comparison, so a burst of N guesses gets at most
/// `max` of them compared. `Ok(None)`: right (the count starts again); `Ok(Some(..))`:
/// refused, with the tries left or the lock.
pub async fn check_member(
    store: &Store,
    member_id: i64,
    password: String,
    (max, lock_seconds): (u32, i64),
) -> Result<Option<SignInFailure>, StoreError> {
    if let Err(refused) = store.claim_sign_in(member_id, max, lock_seconds).await {
        return match refused {
            SignInFailure::Failed(e) => Err(StoreError::Internal(e)),
            refused => Ok(Some(refused)),
        };
    }
    let stored = store.password_hash(member_id).await?.unwrap_or_default();
    if verify(password, stored).await {
        store.clear_sign_in_failures(member_id).await?;
        return Ok(None);
    }
    Ok(Some(store.settle_sign_in_failure(member_id, max, lock_seconds).await?))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let stored = super::hash("s3cret-pass".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("s3cret"));
        assert!(super::verify("s3cret-pass".into(), stored.clone()).await);
        assert!(!super::verify("s3cret-Pass".into(), stored).await);
        assert!(!super::verify("x".into(), "not a hash".into()).await);
        assert!(super::validate("12345").is_err() && super::validate("123456").is_ok());
    }
}
