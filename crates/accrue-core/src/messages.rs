//! Texts sent to members. Each is a template a program may change; the shipped defaults
//! apply until it does. A template is the payload of its message — `{"text"}` for an SMS,
//! `{"subject", "body"}` for an e-mail — with `{code}` where the code goes.

use serde_json::{json, Map, Value};

/// The messages there are templates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageName {
    /// The confirmation code by SMS.
    CodeSms,
    /// The confirmation code by e-mail.
    CodeEmail,
}

/// The longest text of a template field.
const MAX_FIELD: usize = 2000;

impl MessageName {
    pub const ALL: [MessageName; 2] = [MessageName::CodeSms, MessageName::CodeEmail];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageName::CodeSms => "code.sms",
            MessageName::CodeEmail => "code.email",
        }
    }

    pub fn parse(text: &str) -> Option<MessageName> {
        MessageName::ALL.into_iter().find(|n| n.as_str() == text)
    }

    /// The fields of its template, and the one that must name `{code}`.
    fn fields(self) -> (&'static [&'static str], &'static str) {
        match self {
            MessageName::CodeSms => (&["text"], "text"),
            MessageName::CodeEmail => (&["subject", "body"], "body"),
        }
    }

    /// The shipped template.
    pub fn default_template(self) -> Value {
        match self {
            MessageName::CodeSms => json!({"text": "Код подтверждения: {code}"}),
            MessageName::CodeEmail => json!({"subject": "Код подтверждения", "body": "Ваш код подтверждения: {code}"}),
        }
    }

    /// Checks a template: exactly its fields, each a non-empty text of at most 2000
    /// characters, and `{code}` where the code goes.
    pub fn validate(self, template: &Value) -> Result<(), String> {
        let (fields, coded) = self.fields();
        let Some(given) = template.as_object() else {
            return Err(format!(
                "a {} template is an object with {}",
                self.as_str(),
                fields.join(", ")
            ));
        };
        if let Some(unknown) = given.keys().find(|k| !fields.contains(&k.as_str())) {
            return Err(format!(
                "unknown field {unknown:?}; a {} template has {}",
                self.as_str(),
                fields.join(", ")
            ));
        }
        for field in fields {
            let text = text_of(given, field).ok_or_else(|| format!("{field} must be a text"))?;
            if text.trim().is_empty() || text.chars().count() > MAX_FIELD {
                return Err(format!("{field} must have 1 to {MAX_FIELD} characters"));
            }
        }
        if !text_of(given, coded).is_some_and(|t| t.contains("{code}")) {
            return Err(format!("{coded} must contain {{code}}, where the code goes"));
        }
        Ok(())
    }
}

fn text_of<'a>(template: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    template.get(field).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_names_round_trip() {
        for name in MessageName::ALL {
            assert_eq!(name.validate(&name.default_template()), Ok(()));
            assert_eq!(MessageName::parse(name.as_str()), Some(name));
        }
    }

    #[test]
    fn templates_are_checked() {
        let sms = MessageName::CodeSms;
        assert!(sms.validate(&json!({"text": "Your code: {code}"})).is_ok());
        assert!(sms
            .validate(&json!({"text": "Your code"}))
            .unwrap_err()
            .contains("{code}"));
        assert!(sms.validate(&json!({"text": "{code}", "extra": 1})).is_err());
        assert!(sms.validate(&json!({"text": 5})).is_err());
        assert!(sms.validate(&json!("{code}")).is_err());
        let email = MessageName::CodeEmail;
        assert!(
            email.validate(&json!({"body": "{code}"})).is_err(),
            "the subject is needed"
        );
        assert!(email
            .validate(&json!({"subject": "{code}", "body": "no code"}))
            .is_err());
        assert!(email.validate(&json!({"subject": " ", "body": "{code}"})).is_err());
        let long = "x".repeat(2001) + "{code}";
        assert!(sms.validate(&json!({ "text": long })).is_err());
    }
}
