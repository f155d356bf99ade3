//! The Integra partner protocol's pure parts: the `k` parameter every call carries
//! (`zaa` + a 32-character identity hash + the encrypted JSON arguments), the two
//! encryption schemes, the protocol's error codes, and what a user's status and
//! progress mean in Accrue.
//!
//! Schemes (a partner's setting):
//! - `aes-256-gcm`, the default: the data is standard base64 of `nonce (12 bytes) ‖
//!   ciphertext ‖ tag (16 bytes)`, AES-256-GCM with no associated data, and the key is
//!   SHA-256 of the cryptKey's UTF-8 bytes.
//! - `base64`, the public guide's stub: the data is base64 of the JSON, the key unused.
//!   For sandboxes only: anyone who knows an identity hash can call as it.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every `k` starts with: the code of the encryption algorithm.
pub const PREFIX: &str = "zaa";
/// The length of an identity hash (a partner's or a user's).
pub const HASH_LEN: usize = 32;
/// The length of a cryptKey Accrue issues.
pub const CRYPT_KEY_LEN: usize = 52;
/// The longest `k` read, in bytes.
pub const MAX_K: usize = 64 * 1024;
const NONCE_LEN: usize = 12;

/// The protocol's status codes: 0–4 as the reference documents them, the rest Accrue's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    /// The arguments are missing, malformed or out of range.
    Invalid = 1,
    /// The identity hash is unknown, or the data does not open with its key.
    BadKey = 2,
    /// `createUser`: the user hash is taken.
    HashTaken = 3,
    /// An identity or user hash is not 32 characters.
    HashLength = 4,
    /// The user, payment or message named does not exist for this partner.
    NotFound = 5,
    /// The call conflicts with what is stored: a payment already decided or expired, a
    /// payment hash reused with other arguments, an archived user.
    Conflict = 6,
    /// The user's balance does not cover a refund.
    InsufficientFunds = 7,
    /// The method is not one of the protocol's.
    UnknownMethod = 8,
    /// The call is not allowed from this address or in this context (a user's hash on
    /// a partner's method).
    Forbidden = 9,
    /// Accrue failed; the message carries an id to find in the log.
    Internal = 10,
}

/// The parts of a `k`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallKey<'a> {
    pub hash: &'a str,
    /// The encrypted arguments, URL-decoded already.
    pub data: &'a str,
}

/// Why a `k` was refused, with the code to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KError {
    #[error("the k parameter is missing")]
    Missing,
    #[error("the k parameter is longer than {MAX_K} bytes")]
    TooLong,
    #[error("the k parameter must start with zaa")]
    Prefix,
    #[error("the hash in k must be 32 letters and digits")]
    HashLength,
}

impl KError {
    pub fn code(&self) -> Code {
        match self {
            KError::HashLength => Code::HashLength,
            _ => Code::Invalid,
        }
    }
}

/// Splits a `k` into the identity hash and the data.
pub fn parse_k(k: &str) -> Result<CallKey<'_>, KError> {
    if k.is_empty() {
        return Err(KError::Missing);
    }
    if k.len() > MAX_K {
        return Err(KError::TooLong);
    }
    let rest = k.strip_prefix(PREFIX).ok_or(KError::Prefix)?;
    let hash = rest.get(..HASH_LEN).ok_or(KError::HashLength)?;
    if !is_hash(hash) {
        return Err(KError::HashLength);
    }
    Ok(CallKey {
        hash,
        data: &rest[HASH_LEN..],
    })
}

/// Whether `text` can be an identity hash: 32 ASCII letters and digits.
pub fn is_hash(text: &str) -> bool {
    text.len() == HASH_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// How a partner's data is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Scheme {
    #[default]
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    #[serde(rename = "base64")]
    Base64,
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::Aes256Gcm, Scheme::Base64];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Aes256Gcm => "aes-256-gcm",
            Scheme::Base64 => "base64",
        }
    }

    pub fn parse(text: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The plaintext of `data`, or `None` when it does not open with `crypt_key`.
    pub fn decrypt(self, data: &str, crypt_key: &str) -> Option<Vec<u8>> {
        let bytes = decode_base64(data)?;
        match self {
            Scheme::Base64 => Some(bytes),
            Scheme::Aes256Gcm => {
                if bytes.len() < NONCE_LEN + 16 {
                    return None;
                }
                let (nonce, sealed) = bytes.split_at(NONCE_LEN);
                cipher(crypt_key).decrypt(Nonce::from_slice(nonce), sealed).ok()
            }
        }
    }

    /// `plaintext` encrypted with `crypt_key`, as a partner sends it (before URL
    /// encoding); `nonce` must never repeat for a key (the base64 stub ignores it).
    pub fn encrypt(self, plaintext: &[u8], crypt_key: &str, nonce: [u8; NONCE_LEN]) -> String {
        match self {
            Scheme::Base64 => STANDARD.encode(plaintext),
            Scheme::Aes256Gcm => {
                let sealed = cipher(crypt_key)
                    .encrypt(Nonce::from_slice(&nonce), plaintext)
                    .expect("AES-GCM encrypts any message under 64 GiB");
                let mut out = nonce.to_vec();
                out.extend_from_slice(&sealed);
                STANDARD.encode(out)
            }
        }
    }
}

fn cipher(crypt_key: &str) -> Aes256Gcm {
    let key = Sha256::digest(crypt_key.as_bytes());
    Aes256Gcm::new(&key)
}

/// Standard base64, padded or not; a space is read as the `+` that a query string
/// turned into one when the partner did not URL-encode the data.
fn decode_base64(data: &str) -> Option<Vec<u8>> {
    let cleaned: String = data.trim_end_matches('=').replace(' ', "+");
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned).ok()
}

/// A user's `status` in `getUserData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Never credited.
    New,
    /// Active, with something to spend.
    Run,
    /// Archived, or nothing left to spend.
    Stopped,
}

/// A user's `progress` in `getUserData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Registered, never credited.
    WizardStep1,
    /// Credited, with a balance left.
    CampaignPaid,
    /// Credited once, balance spent.
    CampaignUnpaid,
}

/// What Accrue knows of a user that status and progress are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub archived: bool,
    pub ever_credited: bool,
    pub available: i64,
}

impl Standing {
    pub fn status(self) -> UserStatus {
        match self {
            Standing { archived: true, .. } => UserStatus::Stopped,
            Standing {
                ever_credited: false, ..
            } => UserStatus::New,
            Standing { available, .. } if available > 0 => UserStatus::Run,
            _ => UserStatus::Stopped,
        }
    }

    pub fn progress(self) -> Progress {
        match self {
            Standing {
                ever_credited: false, ..
            } => Progress::WizardStep1,
            Standing { available, .. } if available > 0 => Progress::CampaignPaid,
            _ => Progress::CampaignUnpaid,
        }
    }
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::New => "new",
            UserStatus::Run => "run",
            UserStatus::Stopped => "stopped",
        }
    }
}

impl Progress {
    pub fn as_str(self) -> &'static str {
        match self {
            Progress::WizardStep1 => "WIZARD_STEP_1",
            Progress::CampaignPaid => "CAMPAIGN_PAID",
            Progress::CampaignUnpaid => "CAMPAIGN_UNPAID",
        }
    }
}

/// The cabinet's pages a `r=` deeplink or a `{{go/…}}` link in a message can open.
pub const DEEPLINKS: [&str; 3] = ["go/payment", "go/support", "go/help"];

/// The deeplink `r` names (with or without its leading slash), if it is one.
pub fn deeplink(r: &str) -> Option<&'static str> {
    let r = r.trim().trim_start_matches('/');
    DEEPLINKS.into_iter().find(|d| *d == r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HASH: &str = "f3102ac1d0588bea1db5411f66282663";

    #[test]
    fn k_splits_into_hash_and_data() {
        let k = format!("zaa{HASH}ZTQo+DP4");
        assert_eq!(
            parse_k(&k),
            Ok(CallKey {
                hash: HASH,
                data: "ZTQo+DP4"
            })
        );
        assert_eq!(parse_k(&format!("zaa{HASH}")).unwrap().data, "");
        assert_eq!(parse_k(""), Err(KError::Missing));
        assert_eq!(parse_k(&format!("zab{HASH}x")), Err(KError::Prefix));
        assert_eq!(parse_k("zaa1234"), Err(KError::HashLength));
        assert_eq!(parse_k(&format!("zaa{}-x", &HASH[..31])), Err(KError::HashLength));
        assert_eq!(parse_k("zaaабвгдеёжзийклмнопрстуфхцчшщъыьэюя"), Err(KError::HashLength));
        assert_eq!(KError::HashLength.code(), Code::HashLength);
        assert_eq!(KError::Prefix.code(), Code::Invalid);
    }

    #[test]
    fn the_stub_is_plain_base64() {
        let data = STANDARD.encode(r#"{"name":"Dmitry"}"#);
        assert_eq!(Scheme::Base64.decrypt(&data, "any").unwrap(), br#"{"name":"Dmitry"}"#);
        assert_eq!(Scheme::Base64.encrypt(b"{}", "k", [0; 12]), "e30=");
        assert_eq!(
            Scheme::Base64.decrypt("e30", "k").unwrap(),
            b"{}",
            "padding is optional"
        );
        assert!(Scheme::Base64.decrypt("%%%", "k").is_none());
    }

    /// A vector made with PHP's openssl_encrypt (see docs/integra.md), so the
    /// documented derivation is the one implemented.
    #[test]
    fn aes_gcm_matches_the_documented_derivation() {
        let key = "ko808duypw6hxos6q4vihukgy4wpuzwwbwnerus676krgwcoi7u";
        let nonce = *b"0123456789ab";
        let data = Scheme::Aes256Gcm.encrypt(br#"{"a":1}"#, key, nonce);
        assert_eq!(data, "MDEyMzQ1Njc4OWFi9aRHGbPIIhpBHzqM4A2rHXDD0d+HI1k=");
        assert_eq!(Scheme::Aes256Gcm.decrypt(&data, key).unwrap(), br#"{"a":1}"#);
        assert!(Scheme::Aes256Gcm.decrypt(&data, "another key").is_none());
        assert!(Scheme::Aes256Gcm.decrypt(&data.replace(' ', "+"), key).is_some());
        assert!(
            Scheme::Aes256Gcm.decrypt("MDEy", key).is_none(),
            "shorter than a nonce and tag"
        );
    }

    #[test]
    fn standing_reads_as_status_and_progress() {
        let new = Standing {
            archived: false,
            ever_credited: false,
            available: 0,
        };
        assert_eq!((new.status(), new.progress()), (UserStatus::New, Progress::WizardStep1));
        let paid = Standing {
            ever_credited: true,
            available: 5,
            ..new
        };
        assert_eq!(
            (paid.status(), paid.progress()),
            (UserStatus::Run, Progress::CampaignPaid)
        );
        let spent = Standing { available: 0, ..paid };
        assert_eq!(
            (spent.status(), spent.progress()),
            (UserStatus::Stopped, Progress::CampaignUnpaid)
        );
        let archived = Standing { archived: true, ..paid };
        assert_eq!(archived.status(), UserStatus::Stopped);
    }

    #[test]
    fn deeplinks_are_the_three_pages() {
        assert_eq!(deeplink("go/payment"), Some("go/payment"));
        assert_eq!(deeplink("/go/help"), Some("go/help"));
        assert_eq!(deeplink("go/elsewhere"), None);
        assert_eq!(deeplink("https://evil.example"), None);
    }

    proptest! {
        #[test]
        fn aes_round_trips_and_any_flip_is_refused(
            plain in proptest::collection::vec(any::<u8>(), 0..200),
            nonce in any::<[u8; 12]>(),
            flip in any::<usize>(),
        ) {
            let key = "k".repeat(52);
            let data = Scheme::Aes256Gcm.encrypt(&plain, &key, nonce);
            prop_assert_eq!(Scheme::Aes256Gcm.decrypt(&data, &key), Some(plain));
            let mut bytes = STANDARD.decode(&data).unwrap();
            let at = flip % bytes.len();
            bytes[at] ^= 1;
            prop_assert_eq!(Scheme::Aes256Gcm.decrypt(&STANDARD.encode(bytes), &key), None);
        }

        #[test]
        fn parse_k_never_panics_and_keeps_the_rest(k in ".{0,80}") {
            if let Ok(parsed) = parse_k(&k) {
                prop_assert!(is_hash(parsed.hash));
                prop_assert_eq!(format!("zaa{}{}", parsed.hash, parsed.data), k);
            }
        }
    }
}
