//! Reading a postback: `application/x-www-form-urlencoded` pairs (a query string or a
//! form body) into the values the tracker needs, with the aliases partner programs use.

use sha2::{Digest, Sha256};

/// The parameter every postback link carries.
pub const EVENT: &str = "tracker.event";
/// The click id parameter of the links Accrue shows; an integration's own click
/// parameter (such as `click_id` or `sub4`) is accepted too.
pub const CLICK_ID: &str = "clickid";
/// Prefix of the parameters that write a field of the lead: `fields.userid=…`.
pub const FIELD_PREFIX: &str = "fields.";
/// Payout; the first of these present is used.
pub const AMOUNT_ALIASES: &[&str] = &["tracker.cost", "cost", "amount", "sum", "payout"];
pub const CURRENCY_ALIASES: &[&str] = &["tracker.currency", "currency"];
/// Transaction id: repeat deposits are counted once per tid.
pub const TID_ALIASES: &[&str] = &["tracker.tid", "tid"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameters are not valid UTF-8 after percent-decoding")]
    NotUtf8,
    #[error("missing tracker.event")]
    MissingEvent,
    #[error("missing click id: send it as clickid (or {0})")]
    MissingClickId(String),
}

/// Decodes `a=1&b=x%20y+z` into pairs, in order; `+` is a space. Malformed escapes
/// are kept as they are (as browsers do); invalid UTF-8 is an error.
pub fn decode_pairs(raw: &str) -> Result<Vec<(String, String)>, ParamError> {
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, ParamError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex_pair(bytes[i + 1], bytes[i + 2]).is_some() => {
                out.push(hex_pair(bytes[i + 1], bytes[i + 2]).unwrap_or_default());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ParamError::NotUtf8)
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}

/// What a postback says, before it is matched to a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postback {
    pub event: String,
    pub click_id: String,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub tid: Option<String>,
    /// `fields.<key>` values, key without the prefix.
    pub fields: Vec<(String, String)>,
    /// Identifies the postback's content (all pairs but the shared secret, sorted), so a
    /// repeated repeat-deposit without a tid is still counted once.
    pub fingerprint: String,
}

/// Reads the pairs. `click_param` is the integration's own click parameter;
/// `secret_param` names the shared secret, left out of the fingerprint. The first
/// value of a name wins; empty values count as absent.
pub fn read(pairs: &[(String, String)], click_param: &str, secret_param: &str) -> Result<Postback, ParamError> {
    let first = |names: &[&str]| {
        names.iter().find_map(|name| {
            pairs
                .iter()
                .find(|(n, v)| n == name && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let event = first(&[EVENT]).ok_or(ParamError::MissingEvent)?;
    let click_id = first(&[CLICK_ID, click_param]).ok_or_else(|| ParamError::MissingClickId(click_param.into()))?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in pairs {
        if let Some(key) = name.strip_prefix(FIELD_PREFIX) {
            if !fields.iter().any(|(k, _)| k == key) {
                fields.push((key.to_string(), value.clone()));
            }
        }
    }
    let mut signed: Vec<&(String, String)> = pairs.iter().filter(|(n, _)| n != secret_param).collect();
    signed.sort();
    let mut hash = Sha256::new();
    for (name, value) in signed {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(value.as_bytes());
        hash.update([0]);
    }
    Ok(Postback {
        event: event.to_ascii_lowercase(),
        click_id,
        amount: first(AMOUNT_ALIASES),
        currency: first(CURRENCY_ALIASES),
        tid: first(TID_ALIASES),
        fields,
        fingerprint: hex::encode(&hash.finalize()[..16]),
    })
}

/// `raw` (a query string or a form body) with the values of `name` replaced by `***`,
/// so the postback log keeps no shared secret. A value may hold a raw newline, so the
/// text is split at `&` only, as [`decode_pairs`] splits it.
pub fn redact(raw: &str, name: &str) -> String {
    let redact_part = |part: &str| {
        let key = part.split_once('=').map_or(part, |(k, _)| k);
        if decode(key).is_ok_and(|k| k == name) {
            format!("{key}=***")
        } else {
            part.to_string()
        }
    };
    raw.split('&').map(redact_part).collect::<Vec<_>>().join("&")
}

/// A JSON object's text with the value of `name` replaced by `"***"`; text that is not
/// a JSON object comes back as it is.
pub fn redact_json(body: &str, name: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body) {
        Ok(mut object) => {
            if let Some(value) = object.get_mut(name) {
                *value = serde_json::Value::String("***".into());
            }
            serde_json::Value::Object(object).to_string()
        }
        Err(_) => body.to_string(),
    }
}

/// The value of `name` among the pairs, if present.
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::percent_encode;
    use proptest::prelude::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        decode_pairs(raw).unwrap()
    }

    #[test]
    fn reads_the_documents_first_deposit() {
        let p = read(
            &pairs("tracker.event=sale&clickid=abc&tracker.cost=76.5&tracker.currency=usd&fields.userid=42"),
            "sub1",
            "secret",
        )
        .unwrap();
        assert_eq!(p.event, "sale");
        assert_eq!(p.click_id, "abc");
        assert_eq!(p.amount.as_deref(), Some("76.5"));
        assert_eq!(p.currency.as_deref(), Some("usd"));
        assert_eq!(p.tid, None);
        assert_eq!(p.fields, vec![("userid".to_string(), "42".to_string())]);
    }

    #[test]
    fn accepts_the_integrations_click_parameter_and_aliases() {
        let p = read(
            &pairs("tracker.event=resale&currency=usd&click_id=xyz&sum=5&tid=t1"),
            "click_id",
            "s",
        )
        .unwrap();
        assert_eq!(
            (
                p.click_id.as_str(),
                p.amount.as_deref(),
                p.currency.as_deref(),
                p.tid.as_deref()
            ),
            ("xyz", Some("5"), Some("usd"), Some("t1"))
        );
    }

    #[test]
    fn missing_event_or_click_is_an_error() {
        assert_eq!(read(&pairs("clickid=a"), "sub1", "s"), Err(ParamError::MissingEvent));
        assert_eq!(
            read(&pairs("tracker.event=sale&clickid="), "sub1", "s"),
            Err(ParamError::MissingClickId("sub1".into()))
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(
            pairs("a=x%20y+z&b&=c&%zz=%4"),
            vec![
                ("a".into(), "x y z".into()),
                ("b".into(), "".into()),
                ("".into(), "c".into()),
                ("%zz".into(), "%4".into())
            ]
        );
        assert_eq!(decode_pairs("a=%ff"), Err(ParamError::NotUtf8));
    }

    #[test]
    fn the_fingerprint_ignores_order_and_the_secret() {
        let a = read(
            &pairs("tracker.event=resale&clickid=c&amount=5&secret=x"),
            "sub1",
            "secret",
        )
        .unwrap();
        let b = read(
            &pairs("amount=5&clickid=c&tracker.event=resale&secret=y"),
            "sub1",
            "secret",
        )
        .unwrap();
        let c = read(&pairs("amount=6&clickid=c&tracker.event=resale"), "sub1", "secret").unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }

    #[test]
    fn secrets_are_redacted_in_json_and_any_encoding() {
        assert_eq!(
            redact_json(r#"{"secret":"s3 cr&t","clickid":"c"}"#, "secret"),
            r#"{"clickid":"c","secret":"***"}"#
        );
        assert_eq!(redact_json("not json secret", "secret"), "not json secret");
        let secret = "s3 cr&t\"\\";
        for raw in [
            "secret=s3%20cr%26t%22%5C".to_string(),
            "secret=s3+cr%26t%22%5C".to_string(),
            r#"{"secret": "s3 cr&t\"\\" "#.to_string(),
            format!("x {secret} y"),
        ] {
            let erased = crate::redact::erase(&raw, secret);
            assert!(erased.contains("***"), "{raw} -> {erased}");
            assert!(
                !erased.contains("cr&t") && !erased.contains("cr%26t"),
                "{raw} -> {erased}"
            );
        }
        assert_eq!(crate::redact::erase("abc", ""), "abc");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("tracker.event=sale&secret=abc&clickid=1", "secret"),
            "tracker.event=sale&secret=***&clickid=1"
        );
        assert_eq!(
            redact("secret=x\ny&a=b", "secret"),
            "secret=***&a=b",
            "a value with a newline"
        );
        assert_eq!(redact("mysecret=1&secret", "secret"), "mysecret=1&secret=***");
    }

    proptest! {
        #[test]
        fn encoded_pairs_decode_to_themselves(
            items in proptest::collection::vec(("[a-z.]{1,10}", "\\PC{0,20}"), 0..6)
        ) {
            let raw: Vec<String> = items.iter().map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v))).collect();
            let decoded = decode_pairs(&raw.join("&")).unwrap();
            let expected: Vec<(String, String)> = items.into_iter().collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn reading_never_panics(raw in "\\PC{0,200}") {
            if let Ok(p) = decode_pairs(&raw) {
                let _ = read(&p, "sub4", "secret");
            }
        }
    }
}
