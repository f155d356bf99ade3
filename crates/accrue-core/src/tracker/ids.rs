//! Identifiers handed to the outside world: click ids, link slugs, integration ids.
//! Randomness comes in as bytes, so this stays pure.

use crate::Millis;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Random bytes in a click id: 72 bits, after 48 bits of its issue time.
pub const CLICK_ID_BYTES: usize = 9;
/// Length of a click id in characters.
pub const CLICK_ID_LEN: usize = 20;
/// The URL-safe characters in ascending byte order, so that a number written with them
/// sorts as the number does.
const SORTED_DIGITS: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
/// Characters of a click id that write its issue time (48 bits, 6 per character).
const TIME_DIGITS: usize = 8;
/// Added to the time so that its first character is a letter (`V` for the next
/// four thousand years), never the `-` that a plain millisecond count would start with.
const TIME_OFFSET: i64 = 1 << 47;
/// Random bytes in a link slug (short, but not meant to be secret).
pub const SLUG_BYTES: usize = 6;

/// A click id: short, URL-safe (`A-Z a-z 0-9 - _`), unguessable: the milliseconds of
/// its issue in 8 characters that sort as the time does, then 72 random bits. Ids issued
/// close together in time sort close together, so recording a click adds to the few
/// pages of the click-id index that the clicks of the last moments fill, not to a random
/// page of it (random ids made that index most of what a click wrote to disk).
pub fn click_id(issued_at: Millis, random: [u8; CLICK_ID_BYTES]) -> String {
    let time = TIME_OFFSET + issued_at.clamp(0, TIME_OFFSET - 1);
    let mut id: String = (0..TIME_DIGITS)
        .rev()
        .map(|i| char::from(SORTED_DIGITS[((time >> (6 * i)) & 63) as usize]))
        .collect();
    id.push_str(&URL_SAFE_NO_PAD.encode(random));
    id
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
    fn a_click_id_writes_its_time_then_its_random_bits() {
        // 2026-12-04T18:00:00Z; the random part is the bytes' URL-safe base64.
        let id = click_id(1_796_407_200_000, [0xff; CLICK_ID_BYTES]);
        assert_eq!(id, "VP81CcZ-____________");
        assert_eq!(click_id(0, [0; CLICK_ID_BYTES]), "V-------AAAAAAAAAAAA");
        assert!(SORTED_DIGITS.windows(2).all(|w| w[0] < w[1]));
    }

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
        fn click_ids_are_short_and_url_safe(at in any::<i64>(), random in any::<[u8; CLICK_ID_BYTES]>()) {
            let id = click_id(at, random);
            prop_assert!(is_click_id(&id), "{}", id);
            prop_assert_eq!(crate::template::percent_encode(&id), id);
        }

        #[test]
        fn click_ids_sort_by_issue_time(
            a in 0..TIME_OFFSET,
            b in 0..TIME_OFFSET,
            ra in any::<[u8; CLICK_ID_BYTES]>(),
            rb in any::<[u8; CLICK_ID_BYTES]>(),
        ) {
            let (x, y) = (click_id(a, ra), click_id(b, rb));
            if a < b {
                prop_assert!(x < y, "{} issued before {}", x, y);
            }
            prop_assert_eq!(x[..TIME_DIGITS] == y[..TIME_DIGITS], a == b);
        }
    }
}
