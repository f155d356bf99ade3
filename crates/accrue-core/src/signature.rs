//! Webhook signatures as the Standard Webhooks specification defines them
//! (<https://www.standardwebhooks.com>), so receivers can verify Accrue's deliveries
//! with any of that specification's libraries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The prefix that marks a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Shorter keys are too weak for HMAC-SHA256.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longer keys add nothing (HMAC-SHA256 hashes keys over 64 bytes down to 32).
pub const MAX_SECRET_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("webhook secret is empty")]
    Empty,
    #[error("webhook secret is not valid base64 (expected whsec_ followed by standard base64)")]
    NotBase64,
    #[error("webhook secret is {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    TooShort { len: usize },
    #[error("webhook secret is {len} bytes; at most {MAX_SECRET_BYTES} are allowed")]
    TooLong { len: usize },
}

/// A signing secret: random bytes, shown as `whsec_<base64 standard>`.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

/// Never prints the key: secrets end up in logs through `{:?}` far too easily.
impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// A new secret from 24 random bytes (the caller draws them: the core has no
    /// randomness), the size Standard Webhooks libraries generate.
    pub fn from_random(bytes: [u8; 24]) -> WebhookSecret {
        WebhookSecret(bytes.to_vec())
    }

    /// Reads `whsec_<base64>`, or bare base64 as some providers show it.
    pub fn parse(text: &str) -> Result<WebhookSecret, SignatureError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SignatureError::Empty);
        }
        let bytes = STANDARD.decode(encoded).map_err(|_| SignatureError::NotBase64)?;
        match bytes.len() {
            len if len < MIN_SECRET_BYTES => Err(SignatureError::TooShort { len }),
            len if len > MAX_SECRET_BYTES => Err(SignatureError::TooLong { len }),
            _ => Ok(WebhookSecret(bytes)),
        }
    }

    /// The secret as shown to the receiver: `whsec_<base64>`.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// `v1,<base64 of HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>`. The id and the
    /// timestamp are signed with the body so a captured delivery cannot be replayed
    /// under another id or at another time.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The value of the `webhook-signature` header for several secrets (during a rotation
/// both the new and the old key sign, so receivers holding either one accept the
/// delivery): the signatures, space-separated.
pub fn signature_header(secrets: &[&WebhookSecret], msg_id: &str, timestamp: i64, body: &str) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| secret.sign(msg_id, timestamp, body))
        .collect();
    signatures.join(" ")
}

/// How far a signed request's timestamp may be from now, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Whether a request signed the Standard Webhooks way (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`) carries a signature of `secret` and a
/// timestamp within [`TOLERANCE_SECONDS`] of `now_seconds`.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: &str,
    body: &str,
    header: &str,
    now_seconds: i64,
) -> bool {
    let Ok(timestamp) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now_seconds - timestamp).abs() > TOLERANCE_SECONDS {
        return false;
    }
    let expected = secret.sign(msg_id, timestamp, body);
    header
        .split_whitespace()
        .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_requests_verify_within_the_tolerance() {
        let secret = WebhookSecret::from_random([3; 24]);
        let header = format!("v1,bogus {}", secret.sign("msg_1", 1_700_000_000, "{}"));
        assert!(verify(&secret, "msg_1", "1700000000", "{}", &header, 1_700_000_100));
        assert!(
            !verify(&secret, "msg_1", "1700000000", "{}", &header, 1_700_000_400),
            "too old"
        );
        assert!(
            !verify(&secret, "msg_2", "1700000000", "{}", &header, 1_700_000_000),
            "another id"
        );
        assert!(
            !verify(&secret, "msg_1", "1700000000", "{ }", &header, 1_700_000_000),
            "another body"
        );
        assert!(!verify(&secret, "msg_1", "soon", "{}", &header, 1_700_000_000));
    }

    // The test vector published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn matches_the_standard_webhooks_vector() {
        assert_eq!(secret().sign(MSG_ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn every_signed_part_matters() {
        let secret = secret();
        for (id, timestamp, body) in [
            ("msg_other", TIMESTAMP, BODY),
            (MSG_ID, TIMESTAMP + 1, BODY),
            (MSG_ID, TIMESTAMP, r#"{"test": 2432232315}"#),
        ] {
            assert_ne!(secret.sign(id, timestamp, body), SIGNATURE);
        }
        let other = WebhookSecret::from_random([7; 24]);
        assert_ne!(other.sign(MSG_ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn secrets_round_trip_through_text() {
        let secret = WebhookSecret::from_random([42; 24]);
        let text = secret.to_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap().bytes(), secret.bytes());
        assert_eq!(self::secret().to_text(), SECRET);
    }

    #[test]
    fn bare_base64_is_accepted() {
        let bare = WebhookSecret::parse(&SECRET[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(bare.bytes(), secret().bytes());
    }

    #[test]
    fn bad_secrets_are_refused() {
        let parse = |text: &str| WebhookSecret::parse(text).unwrap_err();
        assert_eq!(parse(""), SignatureError::Empty);
        assert_eq!(parse("whsec_"), SignatureError::Empty);
        assert_eq!(parse("whsec_not base64!"), SignatureError::NotBase64);
        let encoded = |len: usize| format!("whsec_{}", STANDARD.encode(vec![1; len]));
        assert_eq!(parse(&encoded(15)), SignatureError::TooShort { len: 15 });
        assert_eq!(parse(&encoded(65)), SignatureError::TooLong { len: 65 });
        assert!(WebhookSecret::parse(&encoded(16)).is_ok());
        assert!(WebhookSecret::parse(&encoded(64)).is_ok());
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(..)");
    }

    #[test]
    fn rotation_header_carries_both_signatures() {
        let old = secret();
        let new = WebhookSecret::from_random([9; 24]);
        let header = signature_header(&[&new, &old], MSG_ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [new.sign(MSG_ID, TIMESTAMP, BODY).as_str(), SIGNATURE]);
        assert_eq!(signature_header(&[], MSG_ID, TIMESTAMP, BODY), "");
    }
}
