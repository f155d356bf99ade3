//! Registration links: the partner program's base URL plus parameters, with
//! `{{tracker.clickid}}`, `{{lead.id}}` and `{{fields.<key>}}` filled per lead.
//!
//! The "final URL with parameters" is shown with its placeholders, as in the document:
//! `https://pocketcustomer.com/register?code=X&click_id={{tracker.clickid}}`. Single
//! braces (`{user_id}`) are a partner program's macros and are left as they are.

use crate::template::percent_encode;
use std::collections::BTreeMap;

pub const CLICK_ID: &str = "tracker.clickid";
pub const LEAD_ID: &str = "lead.id";
pub const FIELD_PREFIX: &str = "fields.";
/// The longest final URL accepted.
pub const MAX_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("base URL must start with http:// or https://")]
    BadScheme,
    #[error("the URL is {0} characters long; the limit is {MAX_LEN}")]
    TooLong(usize),
    #[error("the URL may not contain spaces or control characters")]
    Whitespace,
    #[error("unclosed `{{{{` in the URL")]
    Unclosed,
    #[error("unknown placeholder {{{{{0}}}}}; use {{{{tracker.clickid}}}}, {{{{lead.id}}}} or {{{{fields.<key>}}}}")]
    UnknownPlaceholder(String),
    #[error("parameter name must not be empty and may not contain `=`, `&`, `#` or `?`")]
    BadParamName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// A final URL with `{{…}}` placeholders, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTemplate {
    source: String,
    segments: Vec<Segment>,
}

impl LinkTemplate {
    pub fn parse(source: &str) -> Result<LinkTemplate, LinkError> {
        check_url_text(source)?;
        let mut segments = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(LinkError::Unclosed)?;
            let name = after[..close].trim();
            let known = name == CLICK_ID
                || name == LEAD_ID
                || name
                    .strip_prefix(FIELD_PREFIX)
                    .is_some_and(|key| !key.is_empty() && key.bytes().all(is_key_byte));
            if !known {
                return Err(LinkError::UnknownPlaceholder(name.to_string()));
            }
            segments.push(Segment::Placeholder(name.to_string()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        Ok(LinkTemplate {
            source: source.to_string(),
            segments,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fills the placeholders with percent-encoded values; missing ones render empty.
    pub fn render(&self, values: &BTreeMap<String, String>) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(name) => {
                    if let Some(value) = values.get(name) {
                        out.push_str(&percent_encode(value));
                    }
                }
            }
        }
        out
    }

    pub fn uses(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Placeholder(n) if n == name))
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn check_url_text(url: &str) -> Result<(), LinkError> {
    let len = url.chars().count();
    if len > MAX_LEN {
        return Err(LinkError::TooLong(len));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(LinkError::BadScheme);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LinkError::Whitespace);
    }
    Ok(())
}

/// The final URL of a link: `base_url` with `params` appended (before any fragment),
/// and the integration's click parameter set to `{{tracker.clickid}}` unless the URL
/// already carries the click id somewhere.
pub fn final_url(base_url: &str, params: &[(String, String)], click_param: &str) -> Result<LinkTemplate, LinkError> {
    check_url_text(base_url)?;
    let (head, fragment) = match base_url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (base_url, None),
    };
    let mut pairs: Vec<String> = Vec::with_capacity(params.len() + 1);
    for (name, value) in params {
        if name.is_empty() || name.contains(['=', '&', '#', '?']) || value.contains(['&', '#']) {
            return Err(LinkError::BadParamName);
        }
        pairs.push(format!("{name}={value}"));
    }
    let click = format!("{{{{{CLICK_ID}}}}}");
    if !base_url.contains(&click) && !pairs.iter().any(|p| p.contains(&click)) {
        pairs.push(format!("{click_param}={click}"));
    }
    let mut url = head.to_string();
    if !pairs.is_empty() {
        if !head.contains('?') {
            url.push('?');
        } else if !head.ends_with(['?', '&']) {
            url.push('&');
        }
        url.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    LinkTemplate::parse(&url)
}

/// The placeholder values for a click: its id, and the lead's external id and fields.
pub fn values(
    click_id: &str,
    lead: Option<(&str, &serde_json::Map<String, serde_json::Value>)>,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::from([(CLICK_ID.to_string(), click_id.to_string())]);
    if let Some((external_id, fields)) = lead {
        values.insert(LEAD_ID.to_string(), external_id.to_string());
        for (key, value) in fields {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            values.insert(format!("{FIELD_PREFIX}{key}"), text);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn pocket_option_link_from_the_conventions() {
        let link = final_url(
            "https://pocketcustomer.com/register?utm_campaign=764984&utm_source=affiliate&code=JOINHERE123",
            &[],
            "click_id",
        )
        .unwrap();
        assert_eq!(
            link.source(),
            "https://pocketcustomer.com/register?utm_campaign=764984&utm_source=affiliate&code=JOINHERE123&click_id={{tracker.clickid}}"
        );
        let values = BTreeMap::from([(CLICK_ID.to_string(), "AbC-_1".to_string())]);
        assert!(link.render(&values).ends_with("&click_id=AbC-_1"));
    }

    #[test]
    fn the_documents_example_with_a_lead_field() {
        let link = final_url(
            "https://api.chatterfy.ai",
            &p(&[("sub4", "{{tracker.clickid}}"), ("fields.userid", "{user_id}")]),
            "sub4",
        )
        .unwrap();
        assert_eq!(
            link.source(),
            "https://api.chatterfy.ai?sub4={{tracker.clickid}}&fields.userid={user_id}"
        );
        let only = final_url("https://h.example/r", &[], "sub1").unwrap();
        assert_eq!(only.source(), "https://h.example/r?sub1={{tracker.clickid}}");
        let fragment = final_url("https://h.example/r?a=1#top", &p(&[("b", "{{fields.geo}}")]), "s").unwrap();
        assert_eq!(
            fragment.source(),
            "https://h.example/r?a=1&b={{fields.geo}}&s={{tracker.clickid}}#top"
        );
        let values = BTreeMap::from([("fields.geo".to_string(), "a b&c".to_string())]);
        assert_eq!(fragment.render(&values), "https://h.example/r?a=1&b=a%20b%26c&s=#top");
    }

    #[test]
    fn bad_links_are_refused() {
        assert_eq!(final_url("ftp://x", &[], "s"), Err(LinkError::BadScheme));
        assert_eq!(final_url("https://x/ y", &[], "s"), Err(LinkError::Whitespace));
        assert_eq!(
            final_url("https://x", &p(&[("a&b", "1")]), "s"),
            Err(LinkError::BadParamName)
        );
        assert_eq!(
            final_url("https://x", &p(&[("a", "{{tracker.cost}}")]), "s"),
            Err(LinkError::UnknownPlaceholder("tracker.cost".into()))
        );
        assert_eq!(LinkTemplate::parse("https://x?a={{lead.id"), Err(LinkError::Unclosed));
    }

    proptest! {
        #[test]
        fn values_stay_inside_their_parameter(value in "\\PC{0,30}") {
            let link = final_url("https://h.example/r", &p(&[("lead", "{{lead.id}}")]), "sub1").unwrap();
            let values = BTreeMap::from([(LEAD_ID.to_string(), value), (CLICK_ID.to_string(), "c".to_string())]);
            let url = link.render(&values);
            let query = url.strip_prefix("https://h.example/r?").unwrap();
            prop_assert_eq!(query.matches('&').count(), 1);
            prop_assert!(query.ends_with("&sub1=c"));
        }

        #[test]
        fn parse_never_panics(source in "https://[{}a-z._ ]{0,40}") {
            let _ = LinkTemplate::parse(&source);
        }
    }
}
