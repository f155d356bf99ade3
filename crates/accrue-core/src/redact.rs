//! Keeping secrets out of what is stored and logged: a secret's value erased from text,
//! in the encodings it travels in.

use crate::template::percent_encode;

/// `text` with every occurrence of `secret` replaced by `***`: as it is, percent-encoded
/// (as a query or a form encodes it) and JSON-escaped. The last guard, for text that
/// could not be read as pairs or JSON.
pub fn erase(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let forms = [
        secret.to_string(),
        percent_encode(secret),
        percent_encode(secret).replace("%20", "+"),
        json.trim_matches('"').to_string(),
    ];
    forms
        .iter()
        .filter(|form| !form.is_empty())
        .fold(text.to_string(), |text, form| text.replace(form.as_str(), "***"))
}

/// `text` with every one of `secrets` erased (see [`erase`]).
pub fn erase_all<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    secrets
        .into_iter()
        .fold(text.to_string(), |text, secret| erase(&text, secret))
}
