//! URL templates for partner notifications and postbacks, such as
//! `https://partner.example/pb?cid={clickid}&sum={amount}`.
//!
//! Templates are validated when they are saved (so a typo in a placeholder is reported
//! to the person typing it, not discovered at send time), and every value is fully
//! percent-encoded when rendered, so a value can never add a parameter, a fragment or a
//! path segment of its own.

use std::collections::BTreeMap;

/// The longest template accepted, in characters.
pub const MAX_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("URL template is {len} characters long; the limit is {MAX_LEN}")]
    TooLong { len: usize },
    #[error("URL template must start with http:// or https://")]
    BadScheme,
    #[error("unclosed `{{` at character {at}")]
    Unclosed { at: usize },
    #[error("unexpected `}}` at character {at}")]
    StrayBrace { at: usize },
    #[error("empty placeholder `{{}}` at character {at}")]
    EmptyPlaceholder { at: usize },
    #[error("placeholder {{{name}}} may only contain ASCII letters, digits, `_` and `.`")]
    BadName { name: String },
    #[error("unknown placeholder {{{name}}}; allowed: {}", braced(allowed))]
    UnknownPlaceholder { name: String, allowed: Vec<String> },
}

fn braced(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|name| format!("{{{name}}}")).collect();
    names.join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text copied to the output as is.
    Literal(String),
    /// The name of a value, copied percent-encoded.
    Placeholder(String),
}

/// A parsed, validated URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    source: String,
    segments: Vec<Segment>,
}

impl UrlTemplate {
    /// Parses and validates: every placeholder must be one of `allowed`. This is done
    /// when the template is saved, so an unknown placeholder is an error then, not at
    /// send time.
    pub fn parse(source: &str, allowed: &[&str]) -> Result<UrlTemplate, TemplateError> {
        let len = source.chars().count();
        if len > MAX_LEN {
            return Err(TemplateError::TooLong { len });
        }
        if !(starts_with_ignore_case(source, "http://") || starts_with_ignore_case(source, "https://")) {
            return Err(TemplateError::BadScheme);
        }
        // Positions in errors count characters from 1, as a person reading would.
        let at = |byte: usize| source[..byte].chars().count() + 1;
        let mut segments = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            let offset = source.len() - rest.len();
            let Some(open) = rest.find(['{', '}']) else {
                segments.push(Segment::Literal(rest.to_owned()));
                break;
            };
            if rest.as_bytes()[open] == b'}' {
                return Err(TemplateError::StrayBrace { at: at(offset + open) });
            }
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or(TemplateError::Unclosed { at: at(offset + open) })?;
            let name = &after[..close];
            check_name(name, at(offset + open), allowed)?;
            segments.push(Segment::Placeholder(name.to_owned()));
            rest = &after[close + 1..];
        }
        Ok(UrlTemplate {
            source: source.to_owned(),
            segments,
        })
    }

    /// Fills placeholders with percent-encoded values (see [`percent_encode`]).
    /// A placeholder without a value renders as empty: optional data (a coupon code,
    /// say) is simply absent rather than failing the notification.
    pub fn render(&self, values: &BTreeMap<String, String>) -> String {
        let mut out = String::with_capacity(self.source.len());
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

    /// The template as it was written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The placeholder names used, each once, in order of first appearance.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for segment in &self.segments {
            if let Segment::Placeholder(name) = segment {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// Checks the name of the placeholder opened at character `at`.
fn check_name(name: &str, at: usize, allowed: &[&str]) -> Result<(), TemplateError> {
    if name.is_empty() {
        return Err(TemplateError::EmptyPlaceholder { at });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(TemplateError::BadName { name: name.to_owned() });
    }
    if !allowed.contains(&name) {
        return Err(TemplateError::UnknownPlaceholder {
            name: name.to_owned(),
            allowed: allowed.iter().map(|a| a.to_string()).collect(),
        });
    }
    Ok(())
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Percent-encodes every byte of the UTF-8 of `value` except the RFC 3986 unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), as `%XX` with uppercase hex. This is stricter
/// than any one URL component needs, which is the point: the encoded value is safe in
/// a path, a query or a fragment alike.
pub fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALLOWED: &[&str] = &["clickid", "amount", "currency", "status", "order.id"];

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The inverse of `percent_encode`, written independently of it.
    fn percent_decode(text: &str) -> Vec<u8> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn renders_a_postback() {
        let template = UrlTemplate::parse(
            "https://partner.example/pb?cid={clickid}&sum={amount}&cur={currency}&s={status}",
            ALLOWED,
        )
        .unwrap();
        let rendered = template.render(&values(&[
            ("clickid", "abc 1&x=2#f"),
            ("amount", "12.50"),
            ("currency", "EUR"),
            ("status", "approved"),
        ]));
        assert_eq!(
            rendered,
            "https://partner.example/pb?cid=abc%201%26x%3D2%23f&sum=12.50&cur=EUR&s=approved"
        );
        assert_eq!(template.placeholders(), ["clickid", "amount", "currency", "status"]);
    }

    #[test]
    fn missing_values_render_empty_and_literals_stay() {
        let template = UrlTemplate::parse("HTTP://h.example/{order.id}/x?a=%20&b={status}", ALLOWED).unwrap();
        assert_eq!(
            template.render(&values(&[("order.id", "ö/1")])),
            "HTTP://h.example/%C3%B6%2F1/x?a=%20&b="
        );
        assert_eq!(template.source(), "HTTP://h.example/{order.id}/x?a=%20&b={status}");
    }

    #[test]
    fn placeholders_are_listed_once() {
        let template = UrlTemplate::parse("https://h/{status}/{amount}?s={status}", ALLOWED).unwrap();
        assert_eq!(template.placeholders(), ["status", "amount"]);
    }

    #[test]
    fn invalid_templates_are_refused() {
        let parse = |source: &str| UrlTemplate::parse(source, ALLOWED).unwrap_err();
        assert_eq!(parse("ftp://h/{status}"), TemplateError::BadScheme);
        assert_eq!(parse("{status}"), TemplateError::BadScheme);
        assert_eq!(parse("https://h/{status"), TemplateError::Unclosed { at: 11 });
        assert_eq!(parse("https://h/x}"), TemplateError::StrayBrace { at: 12 });
        assert_eq!(parse("https://h/{}"), TemplateError::EmptyPlaceholder { at: 11 });
        assert_eq!(parse("https://h/{a{b}"), TemplateError::BadName { name: "a{b".into() });
        assert_eq!(
            parse(&format!("https://h/{}", "a".repeat(MAX_LEN))),
            TemplateError::TooLong { len: MAX_LEN + 10 }
        );
    }

    #[test]
    fn unknown_placeholders_name_the_allowed_ones() {
        let error = UrlTemplate::parse("https://h/?c={click_id}", &["clickid", "amount"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown placeholder {click_id}; allowed: {clickid}, {amount}"
        );
    }

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode(" &#?=+/%"), "%20%26%23%3F%3D%2B%2F%25");
        assert_eq!(percent_encode("€"), "%E2%82%AC");
    }

    proptest! {
        #[test]
        fn values_cannot_break_out(value in any::<String>()) {
            let template = UrlTemplate::parse("https://h.example/p?v={status}", ALLOWED).unwrap();
            let rendered = template.render(&values(&[("status", &value)]));
            let encoded = rendered.strip_prefix("https://h.example/p?v=").unwrap();
            prop_assert!(!encoded.contains([' ', '&', '#', '?', '=', '/']));
            prop_assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        }

        #[test]
        fn percent_encoding_round_trips(value in any::<String>()) {
            prop_assert_eq!(percent_decode(&percent_encode(&value)), value.into_bytes());
        }

        #[test]
        fn parse_never_panics(source in any::<String>()) {
            let _ = UrlTemplate::parse(&source, ALLOWED);
        }

        #[test]
        fn parse_never_panics_on_brace_soup(tail in "[{}a-z._ é]{0,40}") {
            let _ = UrlTemplate::parse(&format!("https://{tail}"), &["a", "b.c"]);
        }
    }
}
