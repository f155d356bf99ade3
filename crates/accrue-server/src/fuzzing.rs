//! Entry points for the fuzz targets in `fuzz/` (and the regression tests that replay
//! what they found), for the parsers of outside input that live in the faces and the
//! outbound guard. A panic is a finding.

use crate::faces::loymax::processing::request::{form_to_json, ProcessingRequest, MAX_FORM_DEPTH};
use crate::faces::tracker::postback::body_pairs;
use crate::limits::json_has_nul;
use crate::outbound::guard::{check_url, is_internal, Allowlist};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde_json::Value;

/// How deep a JSON value nests.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1)];
    while let Some((value, level)) = stack.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// A till's ASP.NET-style form body: the tree stays within its depth.
pub fn loymax_form(data: &[u8]) {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    if let Ok(tree) = form_to_json(&pairs) {
        // Each name segment may add an object and a list level.
        assert!(depth(&tree) <= 2 * MAX_FORM_DEPTH + 1);
        let _ = serde_json::from_value::<ProcessingRequest>(tree);
    }
}

/// A till's JSON body: parsed as tills send it, and the NUL check misses no NUL the
/// parser finds.
pub fn loymax_json(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut has_nul = false;
    let mut stack = vec![&value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => has_nul |= s.contains('\0'),
            Value::Array(items) => stack.extend(items),
            Value::Object(fields) => {
                has_nul |= fields.keys().any(|k| k.contains('\0'));
                stack.extend(fields.values());
            }
            _ => {}
        }
    }
    // The check reads the text, so it also sees a NUL in a duplicate key's value that
    // the parser dropped: never a miss, sometimes more careful.
    assert!(!has_nul || json_has_nul(data), "{}", String::from_utf8_lossy(data));
    let _ = serde_json::from_value::<ProcessingRequest>(value);
}

/// A postback's body: the first byte says JSON (odd) or a form (even).
pub fn postback_body(data: &[u8]) {
    let Some((kind, body)) = data.split_first() else { return };
    let mut headers = HeaderMap::new();
    let content_type = if kind % 2 == 1 {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    headers.insert(CONTENT_TYPE, content_type.parse().expect("a header value"));
    let _ = body_pairs(&headers, body);
}

/// A URL typed by an operator or partner: what the guard lets through has a host, and
/// a literal address in it is public.
pub fn outbound_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(url) = check_url(text, &Allowlist::default()) {
        let host = url.host_str().expect("a checked URL has a host");
        assert!(!host.is_empty());
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            assert!(!is_internal(ip), "{text}");
        }
    }
}

/// An IMSHOP cart or order body: read as tolerantly as the face reads it, each item's
/// line holds the quantity and price it was given.
pub fn imshop_json(data: &[u8]) {
    crate::faces::imshop::cart::read_tolerantly(data);
}

/// A Loymax query string as member apps write it: lists only hold values the query
/// had, paging stays within its bounds, dates read or are refused.
pub fn loymax_query(data: &[u8]) {
    use crate::faces::loymax::query::{dates_between, list, number, param};
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    for key in [
        "merchantsIds",
        "subscriptionExternalIds",
        "couponListFilter.couponStates",
    ] {
        for value in list(&pairs, key) {
            assert!(pairs.iter().any(|(_, v)| v == value));
        }
    }
    if let Ok(n) = number(&pairs, "count", 10, 1000) {
        assert!((0..=1000).contains(&n));
    }
    // The same text read as a start and as an end: the end is never earlier (a plain
    // date as an end is the end of that day).
    if let Ok((Some(start), Some(end))) = dates_between(&pairs, "filter.fromDate", "filter.fromDate") {
        assert!(end >= start, "{:?}", param(&pairs, "filter.fromDate"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_core::fuzzing::replay;

    #[test]
    fn found_inputs_stay_fixed() {
        replay(&[
            ("loymax_form", loymax_form),
            ("loymax_json", loymax_json),
            ("postback_body", postback_body),
            ("outbound_url", outbound_url),
            ("loymax_query", loymax_query),
            ("imshop_json", imshop_json),
        ]);
    }
}
