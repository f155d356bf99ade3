//! Sign-in by phone with a one-time code (IMSHOP's "Request OTP" and "Confirm OTP"), and
//! the user's data ("Get User Data").

use super::{failed, number, refusal, Caller, Webhook};
use crate::service::profiles::{self, Profile};
use crate::service::referral::{self, CodeRequest};
use crate::AppState;
use accrue_store::confirmations::CodeError;
use accrue_store::phone_sign_in::Asked;
use accrue_store::referrals::Invitation;
use accrue_store::{MemberFields, StoreError};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeAsked {
    user_identifier: String,
    /// What IMSHOP collected for `dataRequired`.
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    birthday: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    referral_code: Option<String>,
    #[serde(default)]
    banner_id: Option<String>,
    #[serde(default)]
    install_id: Option<String>,
}

impl CodeAsked {
    /// What a new member gave: e-mail, names (`fullName` split at its first space) and
    /// `birthday` and `gender` as attributes.
    fn data(&self) -> MemberFields {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(String::from);
        let name = text(&self.full_name);
        let (first, last) = match name.as_deref().and_then(|n| n.split_once(' ')) {
            Some((first, last)) => (Some(first.to_string()), Some(last.trim().to_string())),
            None => (name, None),
        };
        let attributes = [("birthday", text(&self.birthday)), ("gender", text(&self.gender))]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), Value::String(v?))))
            .collect();
        MemberFields {
            email: text(&self.email),
            first_name: first,
            last_name: last,
            attributes,
            ..MemberFields::default()
        }
    }
}

/// IMSHOP sends the phone as digits with the country code (`71234567890`).
fn phone(identifier: &str) -> String {
    let digits = identifier.trim();
    if digits.len() >= 11 && digits.chars().all(|c| c.is_ascii_digit()) {
        format!("+{digits}")
    } else {
        digits.to_string()
    }
}

/// `+79651234500` → `+7 (965) ***-**-00`; other numbers keep their first four and last
/// two characters.
fn masked(e164: &str) -> String {
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 && digits.starts_with('7') {
        return format!("+7 ({}) ***-**-{}", &digits[1..4], &digits[9..]);
    }
    let shown = e164.chars().count().saturating_sub(6);
    e164.chars()
        .enumerate()
        .map(|(i, c)| if i >= 4 && i < 4 + shown { '*' } else { c })
        .collect()
}

fn code_refusal(e: &CodeError) -> &'static str {
    match e {
        CodeError::TooSoon { .. } => "Новый код можно запросить чуть позже",
        CodeError::Locked { .. } => "Превышено количество попыток входа, попробуйте позже",
        CodeError::Wrong { .. } => "Неправильный код",
        CodeError::Expired => "Срок действия кода истёк, запросите новый",
        CodeError::NotSent => "Код не запрашивался, запросите новый",
    }
}

fn store_refusal(e: StoreError) -> Response {
    match e {
        StoreError::Code(e) => refusal(code_refusal(&e)),
        StoreError::Invalid(_) => refusal("Неверный номер телефона"),
        StoreError::MemberInactive(_) => refusal("Вход для этого номера закрыт"),
        e => failed(e),
    }
}

/// Request OTP: a new phone is first asked for the program's `dataRequired` (the
/// referral code by default); the code is sent by SMS otherwise.
pub async fn request_code(State(state): State<AppState>, call: Webhook<CodeAsked>) -> Response {
    let (caller, asked) = (call.caller, call.body);
    let Caller { program, settings } = caller;
    let request = CodeRequest {
        phone: phone(&asked.user_identifier),
        referral_code: asked.referral_code.clone(),
        banner_id: asked.banner_id.clone(),
        device: asked.install_id.clone(),
        ask_first: !settings.data_required.is_empty(),
        data: asked.data(),
    };
    match referral::ask_code(&state.store, &program, request).await {
        Ok((Asked::NewPhone(_), _)) => Json(json!({
            "dataRequired": settings.data_required,
            "dataOptional": settings.data_optional,
        }))
        .into_response(),
        Ok((Asked::Sent(_, sent), rules)) => Json(json!({"otp": {
            "timeout": rules.resend_after_seconds,
            "message": format!("На номер {} отправлено сообщение с кодом", masked(&sent.target)),
            "replyText": "Выслать код повторно",
            "codeLength": sent.length,
        }}))
        .into_response(),
        Err(e) => store_refusal(e),
    }
}

/// Confirm OTP's body: Request OTP's fields and the code.
#[derive(Debug, Deserialize)]
pub struct CodeGiven {
    otp: String,
    #[serde(flatten)]
    asked: CodeAsked,
}

/// Confirm OTP: the user's data, their registration finished when new.
pub async fn confirm_code(State(state): State<AppState>, call: Webhook<CodeGiven>) -> Response {
    let (program, otp, given) = (call.caller.program, call.body.otp, call.body.asked);
    let invitation = given.referral_code.map(|code| Invitation {
        code,
        banner_id: given.banner_id,
        device: given.install_id.clone(),
        ip: None,
    });
    let store = &state.store;
    let who = (phone(&given.user_identifier), given.install_id);
    let signed = match referral::sign_in(store, &program, (&who.0, who.1), &otp, invitation).await {
        Ok(Ok(signed)) => signed,
        Ok(Err(wrong)) => return refusal(code_refusal(&wrong)),
        Err(e) => return store_refusal(e),
    };
    match profiles::profile(store, program.id, signed.member).await {
        Ok(profile) => Json(json!({ "user": user(&profile) })).into_response(),
        Err(e) => failed(e),
    }
}

/// The user object: the id the app calls back with, then what is known of the member.
pub(super) fn user(p: &Profile) -> Value {
    let m = &p.member;
    let mut user = Map::new();
    user.insert("id".into(), json!(m.id.to_string()));
    let name = [&m.first_name, &m.last_name]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if !name.is_empty() {
        user.insert("name".into(), json!(name));
    }
    if let Some(phone) = &m.phone {
        user.insert("phone".into(), json!(phone.trim_start_matches('+')));
    }
    if let Some(email) = &m.email {
        user.insert("email".into(), json!(email));
    }
    let scale = p.currency.scale;
    user.insert("bonuses".into(), number(p.available, scale));
    if p.not_activated > 0 {
        user.insert("pendingBonusesTitle".into(), json!("Будет начислено"));
        user.insert("pendingBonuses".into(), number(p.not_activated, scale));
    }
    if let Some(card) = &p.card {
        user.insert("cardNumber".into(), json!(card));
    }
    Value::Object(user)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAsked {
    user_identifier: String,
}

/// Get User Data: the user object by the id the app was given.
pub async fn user_data(State(state): State<AppState>, call: Webhook<UserAsked>) -> Response {
    let (caller, asked) = (call.caller, call.body);
    let store = &state.store;
    let program_id = caller.program.id;
    let member = match referral::member_by_user_id(store, program_id, &asked.user_identifier).await {
        Ok(member) => member,
        Err(StoreError::NotFound(_)) => return refusal("Пользователя с таким идентификатором более не существует"),
        Err(e) => return failed(e),
    };
    match profiles::profile(store, program_id, member).await {
        Ok(profile) => Json(json!({ "user": user(&profile) })).into_response(),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_as_imshop_shows_them() {
        assert_eq!(masked("+79651234500"), "+7 (965) ***-**-00");
        assert_eq!(masked("+4915112345678"), "+491********78");
        assert_eq!(phone("71234567890"), "+71234567890");
        assert_eq!(phone("+7 (123) 456-78-90"), "+7 (123) 456-78-90");
    }
}
