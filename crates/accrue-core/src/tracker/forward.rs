//! Forwarded postbacks: when a conversion is counted, an integration may tell the
//! traffic source by a GET of its URL template, such as
//! `https://source.example/pb?cid={sub1}&e={event}&sum={amount}&cur={currency}`.

use std::collections::BTreeMap;

/// Placeholders a forwarding template may use: Accrue's click id, the raw event and
/// its kind, the amount and currency, the tid, the lead's external id, and the
/// `sub1`…`sub5` parameters the click arrived with (a traffic source's own click id).
pub const PLACEHOLDERS: &[&str] = &[
    "clickid", "event", "kind", "amount", "currency", "tid", "lead", "sub1", "sub2", "sub3", "sub4", "sub5",
];

/// What is known about a counted conversion, for rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardData<'a> {
    pub click_id: &'a str,
    pub event: &'a str,
    pub kind: &'a str,
    pub amount: Option<String>,
    pub currency: Option<&'a str>,
    pub tid: Option<&'a str>,
    pub lead: Option<&'a str>,
    /// The click's incoming sub-parameters.
    pub subs: &'a [(String, String)],
}

/// The values of the placeholders.
pub fn values(data: &ForwardData) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            values.insert(name.to_string(), value.to_string());
        }
    };
    put("clickid", Some(data.click_id));
    put("event", Some(data.event));
    put("kind", Some(data.kind));
    put("amount", data.amount.as_deref());
    put("currency", data.currency);
    put("tid", data.tid);
    put("lead", data.lead);
    for name in &PLACEHOLDERS[7..] {
        put(name, data.subs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::UrlTemplate;

    #[test]
    fn renders_a_forward() {
        let template = UrlTemplate::parse(
            "https://src.example/pb?cid={sub1}&e={event}&sum={amount}&cur={currency}&t={tid}",
            PLACEHOLDERS,
        )
        .unwrap();
        let subs = vec![("sub1".to_string(), "src 42".to_string())];
        let data = ForwardData {
            click_id: "c",
            event: "sale",
            kind: "first_deposit",
            amount: Some("76.50".into()),
            currency: Some("USD"),
            tid: None,
            lead: Some("L1"),
            subs: &subs,
        };
        assert_eq!(
            template.render(&values(&data)),
            "https://src.example/pb?cid=src%2042&e=sale&sum=76.50&cur=USD&t="
        );
    }
}
