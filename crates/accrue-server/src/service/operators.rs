//! The web console's operators: created, disabled and given passwords by the CLI and by
//! admins in the console.

use crate::passwords;
use accrue_store::operators::Operator;
use accrue_store::{Store, StoreError};

pub const ROLES: [&str; 3] = ["admin", "support", "analyst"];

/// Adds an operator: a login of 1 to 64 letters, digits and `.-_@`, a name, one of
/// [`ROLES`], and a password of 10 to 128 characters (kept as an argon2id hash).
pub async fn create(
    store: &Store,
    login: &str,
    name: &str,
    role: &str,
    password: String,
) -> Result<Operator, StoreError> {
    let login = login.trim().to_lowercase();
    let fits = |c: char| c.is_ascii_alphanumeric() || ".-_@".contains(c);
    if login.is_empty() || login.len() > 64 || !login.chars().all(fits) {
        return Err(StoreError::Invalid(
            "a login has 1 to 64 letters, digits, '.', '-', '_' or '@'".into(),
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StoreError::Invalid("a name has 1 to 100 characters".into()));
    }
    if !ROLES.contains(&role) {
        return Err(StoreError::Invalid(format!("the role is one of {}", ROLES.join(", "))));
    }
    let hash = password_hash(password).await?;
    store
        .create_operator(login, name.to_string(), role.to_string(), hash)
        .await
}

/// Gives an operator a new password (10 to 128 characters); their sessions end.
pub async fn set_password(store: &Store, login: &str, password: String) -> Result<Operator, StoreError> {
    let hash = password_hash(password).await?;
    store.set_operator_password(login.trim().to_lowercase(), hash).await
}

/// Disables an operator (their sessions end; never the last active admin) or enables one.
pub async fn set_disabled(store: &Store, login: &str, disabled: bool) -> Result<Operator, StoreError> {
    store.set_operator_disabled(login.trim().to_lowercase(), disabled).await
}

async fn password_hash(password: String) -> Result<String, StoreError> {
    let length = password.chars().count();
    if !(10..=passwords::MAX_LENGTH).contains(&length) {
        return Err(StoreError::Invalid(format!(
            "an operator's password has 10 to {} characters",
            passwords::MAX_LENGTH
        )));
    }
    passwords::hash(password)
        .await
        .map_err(|e| StoreError::Internal(e.message))
}
