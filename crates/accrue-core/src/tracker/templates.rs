//! Integrations: which parameter carries the click id and which postback links the
//! partner program calls. Ready-made templates are data (`templates.json`), shipped
//! with the binary.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// One postback configuration: its event and the parameters the partner program fills
/// with its macros (`tracker.cost={amount}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostbackConfig {
    pub label: String,
    pub event: String,
    #[serde(default)]
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationTemplate {
    pub code: String,
    pub name: String,
    pub vertical: String,
    /// The partner program's parameter that carries Accrue's click id.
    pub click_param: String,
    /// Whether the links carry `clickid={<click_param>}`; when not, the partner
    /// program appends the click id itself, under `click_param`.
    pub click_in_link: bool,
    pub notes: String,
    pub postbacks: Vec<PostbackConfig>,
}

/// The shipped templates.
pub fn all() -> &'static [IntegrationTemplate] {
    static TEMPLATES: OnceLock<Vec<IntegrationTemplate>> = OnceLock::new();
    TEMPLATES.get_or_init(|| serde_json::from_str(include_str!("templates.json")).expect("templates.json is valid"))
}

pub fn find(code: &str) -> Option<&'static IntegrationTemplate> {
    all().iter().find(|t| t.code == code)
}

/// The postbacks of a custom integration, as the document shows them after the
/// "transform the link" step: registration, `sale` with cost and currency, `resale`
/// with a tid.
pub fn default_postbacks() -> Vec<PostbackConfig> {
    let config = |label: &str, event: &str, params: &[(&str, &str)]| PostbackConfig {
        label: label.into(),
        event: event.into(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    vec![
        config("Registration", "registration", &[]),
        config(
            "First Deposit",
            "sale",
            &[("tracker.cost", "{amount}"), ("tracker.currency", "usd")],
        ),
        config("Recurring Deposit", "resale", &[("tracker.tid", "{event_id}")]),
    ]
}

/// The path of an integration's postback endpoint.
pub fn postback_path(integration_uid: &str) -> String {
    format!("/api/postbacks/{integration_uid}/tracker-postback")
}

/// Where the link of one postback configuration goes, as pasted into the partner
/// program: `{base}/api/postbacks/{uid}/tracker-postback?tracker.event=sale&clickid={sub1}&…`.
/// `secret` is the shared secret parameter and its value, when the integration has one.
pub fn postback_link(
    base: &str,
    integration_uid: &str,
    click: Option<&str>,
    config: &PostbackConfig,
    secret: Option<(&str, &str)>,
) -> String {
    let mut link = format!(
        "{}{}?tracker.event={}",
        base.trim_end_matches('/'),
        postback_path(integration_uid),
        config.event
    );
    if let Some(click_param) = click {
        link.push_str(&format!("&clickid={{{click_param}}}"));
    }
    for (name, value) in &config.params {
        link.push_str(&format!("&{name}={value}"));
    }
    if let Some((name, value)) = secret {
        link.push_str(&format!("&{name}={}", crate::template::percent_encode(value)));
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_load() {
        let codes: Vec<&str> = all().iter().map(|t| t.code.as_str()).collect();
        assert_eq!(codes, ["1win", "pocket_option", "generic"]);
        assert_eq!(find("1win").unwrap().click_param, "sub4");
    }

    #[test]
    fn the_documents_links() {
        let uid = "48d0524a-3abb-4cd5-82b8-404fa1cb4f7e";
        let links: Vec<String> = default_postbacks()
            .iter()
            .map(|c| postback_link("https://api.chatterfy.ai/", uid, Some("sub1"), c, None))
            .collect();
        let base = format!("https://api.chatterfy.ai/api/postbacks/{uid}/tracker-postback");
        assert_eq!(links[0], format!("{base}?tracker.event=registration&clickid={{sub1}}"));
        assert_eq!(
            links[1],
            format!("{base}?tracker.event=sale&clickid={{sub1}}&tracker.cost={{amount}}&tracker.currency=usd")
        );
        assert_eq!(
            links[2],
            format!("{base}?tracker.event=resale&clickid={{sub1}}&tracker.tid={{event_id}}")
        );
        let secret = postback_link("http://h", uid, None, &default_postbacks()[0], Some(("secret", "a b")));
        assert!(secret.ends_with("tracker-postback?tracker.event=registration&secret=a%20b"));
    }
}
