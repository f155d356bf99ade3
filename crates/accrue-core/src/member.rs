//! Members and their identifiers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    Registering,
    Active,
    Blocked,
    Archived,
}

impl MemberState {
    pub const ALL: [MemberState; 4] = [
        MemberState::Registering,
        MemberState::Active,
        MemberState::Blocked,
        MemberState::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Registering => "registering",
            MemberState::Active => "active",
            MemberState::Blocked => "blocked",
            MemberState::Archived => "archived",
        }
    }

    pub fn parse(text: &str) -> Option<MemberState> {
        MemberState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether points may move in or out of the member's wallet.
    pub fn may_transact(self) -> bool {
        matches!(self, MemberState::Registering | MemberState::Active)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("{0:?} is not a valid phone number")]
    Phone(String),
    #[error("{0:?} is not a valid e-mail address")]
    Email(String),
    #[error("{0:?} is not a valid region code")]
    Region(String),
    #[error("{0} must be 1 to {1} characters without control characters")]
    Text(&'static str, usize),
}

/// Checks a region code (ISO 3166, such as `RU`) that phone numbers are read in.
pub fn validate_region(region: &str) -> Result<(), IdentifierError> {
    region
        .parse::<phonenumber::country::Id>()
        .map(drop)
        .map_err(|_| IdentifierError::Region(region.into()))
}

/// The longest text read as a phone number, in bytes (spaces, dashes and brackets
/// included).
pub const MAX_PHONE_INPUT: usize = 64;

/// Normalises a phone number to E.164 (`+79161234567`). Numbers without a country
/// code are read in `region` (an ISO 3166 code such as `RU`).
pub fn normalize_phone(input: &str, region: &str) -> Result<String, IdentifierError> {
    // No phone number is longer; the parser need never see more.
    if input.len() > MAX_PHONE_INPUT {
        return Err(IdentifierError::Phone(input.chars().take(MAX_PHONE_INPUT).collect()));
    }
    let country = region
        .parse::<phonenumber::country::Id>()
        .map_err(|_| IdentifierError::Region(region.into()))?;
    let bad = || IdentifierError::Phone(input.into());
    let e164 = |text: &str| {
        let number = phonenumber::parse(Some(country), text).ok()?;
        phonenumber::is_valid(&number).then(|| number.format().mode(phonenumber::Mode::E164).to_string())
    };
    let normalized = e164(input.trim()).ok_or_else(bad)?;
    // Some odd spellings (`+3 (288818 0)6 838`) read as a number whose E.164 form is not
    // valid itself; storing it would make the member unfindable by that number.
    if e164(&normalized).as_deref() != Some(normalized.as_str()) {
        return Err(bad());
    }
    Ok(normalized)
}

/// Checks the shape of an e-mail address and lowercases it.
pub fn normalize_email(input: &str) -> Result<String, IdentifierError> {
    let email = input.trim().to_lowercase();
    let bad = || IdentifierError::Email(input.into());
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    valid.then_some(email.clone()).ok_or_else(bad)
}

/// Free-text identifiers (logins, external ids): trimmed, bounded, printable.
pub fn normalize_text(field: &'static str, input: &str, max: usize) -> Result<String, IdentifierError> {
    let text = input.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(IdentifierError::Text(field, max));
    }
    Ok(text.to_string())
}

/// Shows only the last four digits: `+79161234567` → `***4567`.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***{tail}")
}

/// Referral codes avoid characters that are easy to misread (0/O, 1/I/L).
const REFERRAL_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const REFERRAL_CODE_LEN: usize = 8;

/// Builds a referral code from random bytes (the caller owns the randomness).
pub fn referral_code(random: [u8; REFERRAL_CODE_LEN]) -> String {
    random
        .iter()
        .map(|b| REFERRAL_ALPHABET[*b as usize % REFERRAL_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(normalize_phone("8 (916) 123-45-67", "RU").unwrap(), "+79161234567");
        assert_eq!(normalize_phone("+7 916 123 45 67", "RU").unwrap(), "+79161234567");
        assert_eq!(normalize_phone("79161234567", "RU").unwrap(), "+79161234567");
        assert_eq!(normalize_phone("+1 650-253-0000", "RU").unwrap(), "+16502530000");
        assert!(normalize_phone("12", "RU").is_err());
        assert!(normalize_phone("not a phone", "RU").is_err());
        assert!(matches!(
            normalize_phone("+79161234567", "XX"),
            Err(IdentifierError::Region(_))
        ));
    }

    #[test]
    fn regions_are_iso_codes() {
        assert!(validate_region("RU").is_ok() && validate_region("KZ").is_ok());
        assert_eq!(validate_region("XX"), Err(IdentifierError::Region("XX".into())));
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(normalize_email(" Ivan@Example.COM ").unwrap(), "ivan@example.com");
        for bad in [
            "",
            "ivan",
            "@example.com",
            "ivan@example",
            "iv an@example.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_keep_the_last_four_digits() {
        assert_eq!(mask_phone("+79161234567"), "***4567");
        assert_eq!(mask_phone("+12"), "***12");
    }

    #[test]
    fn referral_codes_use_the_unambiguous_alphabet() {
        let code = referral_code([0, 1, 30, 31, 255, 100, 7, 8]);
        assert_eq!(code.len(), REFERRAL_CODE_LEN);
        assert!(code.bytes().all(|b| REFERRAL_ALPHABET.contains(&b)));
    }

    #[test]
    fn states_parse_and_gate_transactions() {
        for s in MemberState::ALL {
            assert_eq!(MemberState::parse(s.as_str()), Some(s));
        }
        assert!(MemberState::Active.may_transact());
        assert!(!MemberState::Blocked.may_transact());
        assert!(!MemberState::Archived.may_transact());
    }
}
