//! Idempotency keys: the same key with the same payload gives the original result;
//! the same key with another payload is an error. The payload is compared by a
//! fingerprint of its canonical JSON.

use sha2::{Digest, Sha256};

/// SHA-256 of the canonical JSON of a request. `serde_json::Value` keeps object keys
/// sorted (no `preserve_order`), so equal payloads give equal fingerprints whatever
/// the order their fields arrived in.
pub fn fingerprint(payload: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(payload.to_string().as_bytes()))
}

/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

pub fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("idempotency key must not be empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Err("idempotency key is longer than 255 characters");
    }
    if key.chars().any(char::is_control) {
        return Err("idempotency key must not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_order_does_not_matter() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":"x"}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":"x","a":1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"a": 2, "b": "x"})));
    }

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("op-1").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
        assert!(validate_key("a\nb").is_err());
    }
}
