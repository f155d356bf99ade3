//! Identifiers handed to the outside world: click ids, link slugs, integration ids.
//! Randomness comes in as bytes, so this stays pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Random bytes in a click id: 120 bits, 20 URL-safe characters.
pub const CLICK_ID_BYTES: usize = 15;
/// Length of a click id in characters.
pub const CLICK_ID_LEN: usize = 20;
/// Random bytes in a link slug (short, but not meant to be secret).
pub const SLUG_BYTES: usize = 6;

/// A click id: short, URL-safe (`A-Z a-z 0-9 - _`), unguessable.
pub fn click_id(random: [u8; CLICK_ID_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether `text` has the shape of a click id we issued (a cheap filter before any lookup).
pub fn is_click_id(text: &str) -> bool {
    text.len() == CLICK_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A short slug for `/t/{slug}`.
pub fn slug(random: [u8; SLUG_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// A random (version 4) UUID in its usual text form; 122 random bits.
pub fn uuid_v4(mut random: [u8; 16]) -> String {
    random[6] = (random[6] & 0x0f) | 0x40;
    random[8] = (random[8] & 0x3f) | 0x80;
    let hex = hex::encode(random);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Whether `text` is a UUID in lowercase or uppercase hex with dashes.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uuids_have_version_and_variant() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&id));
        assert!(!is_uuid("48d0524a-3abb-4cd5-82b8-404fa1cb4f7"));
        assert!(is_uuid("48d0524a-3abb-4cd5-82b8-404fa1cb4f7e"));
    }

    proptest! {
        #[test]
        fn click_ids_are_short_and_url_safe(random in any::<[u8; CLICK_ID_BYTES]>()) {
            let id = click_id(random);
            prop_assert!(is_click_id(&id), "{}", id);
            prop_assert_eq!(crate::template::percent_encode(&id), id);
        }
    }
}
