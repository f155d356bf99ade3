//! Entry points for the fuzz targets in `fuzz/` (and the regression tests that replay
//! what they found): each takes arbitrary bytes, runs one parser of outside input and
//! checks what must hold of its result. A panic is a finding.

use crate::member::normalize_phone;
use crate::money::{format_minor, parse_minor, MAX_AMOUNT, MAX_SCALE};
use crate::template::UrlTemplate;
use crate::tracker::{currency, event, params};
use std::collections::BTreeMap;

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or_default()
}

/// Phone numbers as members type them: a normalised number normalises to itself.
pub fn phone(data: &[u8]) {
    if let Ok(e164) = normalize_phone(text(data), "RU") {
        assert!(
            e164.starts_with('+') && e164[1..].chars().all(|c| c.is_ascii_digit()),
            "{e164}"
        );
        assert_eq!(normalize_phone(&e164, "RU").as_deref(), Ok(e164.as_str()));
    }
}

/// Amounts in every scale: within bounds, and formatting gives the same amount back.
pub fn amount(data: &[u8]) {
    let text = text(data);
    for scale in 0..=MAX_SCALE {
        if let Ok(minor) = parse_minor(text, scale) {
            assert!(minor > 0 && minor <= MAX_AMOUNT, "{text} -> {minor}");
            assert_eq!(parse_minor(&format_minor(minor, scale), scale), Ok(minor));
        }
    }
    if let Ok(micros) = currency::parse_amount(text) {
        assert!((0..=MAX_AMOUNT).contains(&micros));
    }
}

/// A postback's query or form body: decoded, read, its secret masked.
pub fn postback_params(data: &[u8]) {
    let raw = text(data);
    let Ok(pairs) = params::decode_pairs(raw) else { return };
    if let Ok(postback) = params::read(&pairs, "sub1", "secret") {
        let _ = event::parse(&postback.event, &["custom".to_string()]);
        if let Some(amount) = &postback.amount {
            let _ = currency::parse_amount(amount);
        }
    }
    let redacted = params::redact(raw, "secret");
    if let Ok(pairs) = params::decode_pairs(&redacted) {
        for (name, value) in pairs.iter().filter(|(name, _)| name == "secret") {
            assert_eq!(value, "***", "{name} kept its value in {redacted}");
        }
    }
    if let Some((_, secret)) = pairs
        .iter()
        .find(|(n, v)| n == "secret" && !v.is_empty() && !v.contains('*'))
    {
        assert!(!crate::redact::erase(raw, secret).contains(secret.as_str()));
    }
    let json = crate::tracker::params::redact_json(raw, "secret");
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(&json) {
        assert!(object.get("secret").is_none_or(|v| v == "***"), "{json}");
    }
}

/// Notification and postback URL templates: parsed, then rendered with any values.
pub fn url_template(data: &[u8]) {
    let (source, value) = text(data).split_once('\n').unwrap_or((text(data), "v"));
    let allowed = ["amount", "clickid", "id", "hash", "text", "phone"];
    if let Ok(template) = UrlTemplate::parse(source, &allowed) {
        let values: BTreeMap<String, String> = allowed.iter().map(|n| (n.to_string(), value.to_string())).collect();
        let rendered = template.render(&values);
        assert!(rendered.starts_with("http://") || rendered.to_ascii_lowercase().starts_with("http"));
    }
}

/// An Install Referrer string and a link's `User-Agent`: a read code and banner make a
/// referrer that reads back the same.
pub fn install_referrer(data: &[u8]) {
    use crate::referral::{install_referrer, parse_install_referrer, Platform};
    let text = text(data);
    let _ = Platform::of_user_agent(text);
    if let Some((code, banner)) = parse_install_referrer(text) {
        let again = install_referrer(&code, banner.as_deref());
        assert_eq!(parse_install_referrer(&again), Some((code, banner)), "{text}");
    }
}

/// An Integra `k` as it arrives: split, opened with both schemes, read as JSON. A `k`
/// that splits keeps its parts; what the stub opens, it encrypts back to the same data.
pub fn integra_k(data: &[u8]) {
    use crate::integra::{parse_k, Scheme};
    let text = text(data);
    let Ok(k) = parse_k(text) else { return };
    assert_eq!(format!("zaa{}{}", k.hash, k.data), text);
    let key = "ko808duypw6hxos6q4vihukgy4wpuzwwbwnerus676krgwcoi7u";
    assert!(
        Scheme::Aes256Gcm.decrypt(k.data, key).is_none(),
        "forged without the key: {text}"
    );
    if let Some(plain) = Scheme::Base64.decrypt(k.data, key) {
        let _ = serde_json::from_slice::<serde_json::Value>(&plain);
        let again = Scheme::Base64.encrypt(&plain, key, [0; 12]);
        assert_eq!(Scheme::Base64.decrypt(&again, key), Some(plain));
    }
}

/// A batch request body and a file's lines: read or refused whole, never a panic; a
/// request that reads has rows within its bounds.
pub fn batch_request(data: &[u8]) {
    use crate::batch::{csv_columns, csv_row, parse_request, MAX_REQUEST_ROWS};
    if let Ok(request) = parse_request(data) {
        assert!(!request.rows.is_empty() && request.rows.len() <= MAX_REQUEST_ROWS);
        assert!(request.rows.iter().all(|r| !r.member_no.trim().is_empty()));
    }
    let text = text(data);
    let mut lines = text.lines();
    if let Some(Ok(columns)) = lines.next().map(csv_columns) {
        for line in lines {
            if let Ok(row) = csv_row(&columns, line) {
                assert!(!row.member_no.is_empty());
            }
        }
    }
}

/// VK Callback API bodies: read or refused, never a panic; a member event is a person's,
/// on VK.
pub fn vk_callback(data: &[u8]) {
    use crate::events::vk::{parse_callback, secret_matches, VkKind, NETWORK};
    if let Ok(callback) = parse_callback(data, 0) {
        let _ = secret_matches(&callback, "secret");
        if let VkKind::Event { vk_user_id, event } = callback.kind {
            assert!(vk_user_id > 0);
            assert_eq!(event.network.as_deref(), Some(NETWORK));
            let _ = event.subject_key();
        }
    }
}

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Replays the inputs kept under `fuzz/regressions/<target>/` through each target's
/// entry point; every target must have some.
pub fn replay(targets: &[(&str, Target)]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    for (target, run) in targets {
        let dir = root.join(target);
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            run(&std::fs::read(entry.unwrap().path()).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0, "{target} has no kept inputs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_inputs_stay_fixed() {
        replay(&[
            ("phone", phone),
            ("amount", amount),
            ("postback_params", postback_params),
            ("url_template", url_template),
            ("install_referrer", install_referrer),
            ("integra_k", integra_k),
            ("batch_request", batch_request),
            ("vk_callback", vk_callback),
        ]);
    }
}
