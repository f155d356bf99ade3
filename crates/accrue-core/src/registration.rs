//! Registration as Loymax runs it: a member goes through steps (accept the offer,
//! confirm the phone, set a password, …); which steps a program requires, and the
//! rules for confirmation codes, are per-program settings.

use serde::{Deserialize, Serialize};

/// Registration steps, named as Loymax names them (`userActionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    AcceptTenderOffer,
    ChangePhone,
    ChangeEmail,
    PasswordRequired,
    Questions,
    AssignCard,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::AcceptTenderOffer,
        Step::ChangePhone,
        Step::ChangeEmail,
        Step::PasswordRequired,
        Step::Questions,
        Step::AssignCard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::AcceptTenderOffer => "AcceptTenderOffer",
            Step::ChangePhone => "ChangePhone",
            Step::ChangeEmail => "ChangeEmail",
            Step::PasswordRequired => "PasswordRequired",
            Step::Questions => "Questions",
            Step::AssignCard => "AssignCard",
        }
    }

    pub fn parse(text: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Where a confirmation code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone => "phone",
            Channel::Email => "email",
        }
    }
}

/// How confirmation codes behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeRules {
    /// Digits in a code, 4 to 8.
    pub length: u32,
    /// Seconds a code stays valid.
    pub ttl_seconds: i64,
    /// Wrong entries before the channel is locked.
    pub max_attempts: u32,
    /// Seconds before another code may be sent.
    pub resend_after_seconds: i64,
    /// Seconds a channel stays locked after too many wrong entries.
    pub lock_seconds: i64,
}

impl Default for CodeRules {
    fn default() -> Self {
        CodeRules {
            length: 6,
            ttl_seconds: 600,
            max_attempts: 5,
            resend_after_seconds: 60,
            lock_seconds: 1800,
        }
    }
}

/// When members get a virtual card (Loymax's `EmitVirtualCard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VirtualCards {
    /// Never: members attach physical cards only.
    Off,
    /// When the member asks (`PUT Cards/EmitVirtual`).
    OnRequest,
    /// Automatically when the member accepts the offer, and on request.
    AfterOffer,
}

/// What members register with (Loymax's `RegistrationProvider*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// `BeginRegistration` takes a phone number; a code is sent to it.
    Phone,
    /// `BeginRegistration` takes the number of a physical card from the pool; the phone
    /// is bound later (`User/PhoneNumber`).
    Card,
}

/// A program's registration settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationSettings {
    pub provider: Provider,
    /// Steps that must be done before registration can finish, in the order shown.
    pub required: Vec<Step>,
    /// Steps offered but not needed to finish.
    pub optional: Vec<Step>,
    pub codes: CodeRules,
    pub virtual_cards: VirtualCards,
    /// How many virtual cards a member may have.
    pub max_virtual_cards: u32,
    /// Signing in with a password also asks for a code sent to the phone.
    pub two_factor_sign_in: bool,
    /// Wrong passwords in a row before sign-in is locked.
    pub password_attempts: u32,
    /// Seconds sign-in stays locked after too many wrong passwords.
    pub password_lock_seconds: i64,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        RegistrationSettings {
            provider: Provider::Phone,
            required: vec![Step::AcceptTenderOffer, Step::ChangePhone, Step::PasswordRequired],
            optional: vec![Step::ChangeEmail, Step::AssignCard],
            codes: CodeRules::default(),
            virtual_cards: VirtualCards::OnRequest,
            max_virtual_cards: 1,
            two_factor_sign_in: false,
            password_attempts: 5,
            password_lock_seconds: 1800,
        }
    }
}

impl RegistrationSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(4..=8).contains(&self.codes.length) {
            return Err("codes.length must be 4 to 8".into());
        }
        if self.codes.ttl_seconds < 1
            || self.codes.max_attempts < 1
            || self.codes.resend_after_seconds < 0
            || self.codes.lock_seconds < 0
        {
            return Err("codes: ttl_seconds and max_attempts must be positive, the other times not negative".into());
        }
        if self.password_attempts < 1 || self.password_lock_seconds < 0 {
            return Err("password_attempts must be positive and password_lock_seconds not negative".into());
        }
        if let Some(step) = self.required.iter().find(|s| self.optional.contains(s)) {
            return Err(format!("{} is both required and optional", step.as_str()));
        }
        Ok(())
    }

    /// Every step the program uses, required ones first.
    pub fn steps(&self) -> impl Iterator<Item = (Step, bool)> + '_ {
        self.required
            .iter()
            .map(|s| (*s, true))
            .chain(self.optional.iter().map(|s| (*s, false)))
    }

    /// Required steps not in `done`, in order.
    pub fn missing(&self, done: &[Step]) -> Vec<Step> {
        self.required.iter().copied().filter(|s| !done.contains(s)).collect()
    }
}

/// A numeric code of `length` digits from random bytes (the caller owns the randomness).
pub fn code_from(random: u64, length: u32) -> String {
    let modulus = 10_u64.pow(length);
    format!("{:0width$}", random % modulus, width = length as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_and_missing_ones_are_listed_in_order() {
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        let settings = RegistrationSettings::default();
        assert_eq!(
            settings.missing(&[Step::ChangePhone]),
            vec![Step::AcceptTenderOffer, Step::PasswordRequired]
        );
        assert!(settings.missing(&settings.required).is_empty());
        assert_eq!(settings.steps().count(), 5);
    }

    #[test]
    fn settings_are_validated() {
        assert!(RegistrationSettings::default().validate().is_ok());
        let both = RegistrationSettings {
            optional: vec![Step::ChangePhone],
            ..Default::default()
        };
        assert!(both.validate().is_err());
        let short = RegistrationSettings {
            codes: CodeRules {
                length: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(short.validate().is_err());
        let parsed: RegistrationSettings =
            serde_json::from_str(r#"{"required":["ChangePhone"],"codes":{"length":4}}"#).unwrap();
        assert_eq!(
            (parsed.required, parsed.codes.length, parsed.codes.max_attempts),
            (vec![Step::ChangePhone], 4, 5)
        );
    }

    #[test]
    fn codes_have_their_length() {
        assert_eq!(code_from(42, 6), "000042");
        assert_eq!(code_from(u64::MAX, 4).len(), 4);
    }
}
