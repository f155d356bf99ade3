//! Message templates in the subset of mustache that messages need: `{{name}}` (HTML
//! escaped), `{{{name}}}` and `{{& name}}` (as is), and `{{! comments}}`. Sections and
//! partials are refused when a template is saved, so what renders is what was checked.
//!
//! Names with a `/` are links to the cabinet's pages (`{{go/payment}}`): the caller
//! says what each becomes, or leaves it in place for the partner to fill in.

use serde_json::{Map, Value};

/// The longest template accepted, in characters.
pub const MAX_LEN: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Value { name: String, escape: bool },
}

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, String> {
        if source.chars().count() > MAX_LEN {
            return Err(format!("a template has at most {MAX_LEN} characters"));
        }
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let (tag, raw_braces) = match after.strip_prefix('{') {
                Some(inner) => (inner, true),
                None => (after, false),
            };
            let close = if raw_braces { "}}}" } else { "}}" };
            let end = tag
                .find(close)
                .ok_or_else(|| format!("unclosed {{{{ at {:?}", snippet(&rest[open..])))?;
            let inner = tag[..end].trim();
            rest = &tag[end + close.len()..];
            if let Some(part) = tag_part(inner, raw_braces)? {
                parts.push(part);
            }
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Renders with `params`; a link name (`go/payment`) becomes what `link` gives, or
    /// stays as `{{go/payment}}` when it gives nothing. A missing value renders empty.
    pub fn render(&self, params: &Map<String, Value>, link: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Value { name, .. } if name.contains('/') => match link(name) {
                    Some(url) => out.push_str(&escape_html(&url)),
                    None => out.push_str(&format!("{{{{{name}}}}}")),
                },
                Part::Value { name, escape } => {
                    let value = lookup(params, name);
                    out.push_str(&if *escape { escape_html(&value) } else { value });
                }
            }
        }
        out
    }
}

/// What a tag is: a value, nothing (a comment), or an error for what is not supported.
fn tag_part(inner: &str, raw_braces: bool) -> Result<Option<Part>, String> {
    let (name, escape) = match inner.chars().next() {
        Some('!') if !raw_braces => return Ok(None),
        Some('&') if !raw_braces => (inner[1..].trim(), false),
        Some(c @ ('#' | '^' | '/' | '>' | '=' | '<' | '$')) if !raw_braces => {
            return Err(format!(
                "{{{{{c}…}}}} tags are not supported; use plain {{{{name}}}} values"
            ))
        }
        _ => (inner, !raw_braces),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'));
    if !valid {
        return Err(format!("{{{{{name}}}}}: a name has letters, digits, _ . / and -"));
    }
    Ok(Some(Part::Value {
        name: name.to_string(),
        escape,
    }))
}

/// A value by dotted name; texts as they are, numbers and booleans as JSON writes them.
fn lookup(params: &Map<String, Value>, name: &str) -> String {
    let mut parts = name.split('.');
    let first = parts.next().and_then(|p| params.get(p));
    let found = parts.fold(first, |value, part| value.and_then(|v| v.get(part)));
    match found {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A message's HTML as text, for an SMS or a plain e-mail: tags dropped, entities read.
pub fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn snippet(text: &str) -> String {
    text.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn no_links(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn values_are_escaped_unless_asked_not_to() {
        let t = Template::parse("Hi {{name}}, {{{html}}} {{& html}} {{! note }}{{missing}}.").unwrap();
        let p = params(json!({"name": "<Ann>", "html": "<b>x</b>"}));
        assert_eq!(t.render(&p, &no_links), "Hi &lt;Ann&gt;, <b>x</b> <b>x</b> .");
    }

    #[test]
    fn numbers_and_dotted_names_render() {
        let t = Template::parse("{{balance}} {{user.login}} {{flag}}").unwrap();
        let p = params(json!({"balance": 12.5, "user": {"login": "acme-1"}, "flag": true}));
        assert_eq!(t.render(&p, &no_links), "12.5 acme-1 true");
    }

    #[test]
    fn links_are_filled_or_kept() {
        let t = Template::parse(r#"<a href="{{go/payment}}">top up</a>"#).unwrap();
        assert_eq!(
            t.render(&Map::new(), &no_links),
            r#"<a href="{{go/payment}}">top up</a>"#
        );
        let to = |name: &str| Some(format!("https://p.example/m?open={name}&x=1"));
        assert_eq!(
            t.render(&Map::new(), &to),
            r#"<a href="https://p.example/m?open=go/payment&amp;x=1">top up</a>"#
        );
    }

    #[test]
    fn html_reads_as_text() {
        assert_eq!(
            plain_text("<b>5 &lt; 6</b> &amp; <a href=\"x\">more</a>"),
            "5 < 6 & more"
        );
    }

    #[test]
    fn unsupported_and_broken_tags_are_refused() {
        assert!(Template::parse("{{#items}}x{{/items}}")
            .unwrap_err()
            .contains("not supported"));
        assert!(Template::parse("{{> partial}}").is_err());
        assert!(Template::parse("{{name").unwrap_err().contains("unclosed"));
        assert!(Template::parse("{{{name}}").is_err());
        assert!(Template::parse("{{}}").is_err());
        assert!(Template::parse("{{a b}}").is_err());
        assert!(Template::parse(&"x".repeat(MAX_LEN + 1)).is_err());
        assert_eq!(
            Template::parse("plain } { text")
                .unwrap()
                .render(&Map::new(), &no_links),
            "plain } { text"
        );
    }
}
