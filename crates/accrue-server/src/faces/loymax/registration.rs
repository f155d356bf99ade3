//! Registration by phone, step by step, as the Loymax document describes it:
//! BeginRegistration, the steps (`user/actions`), confirmation codes for phone and
//! e-mail, the password, and TryFinishRegistration. Which steps are required is a
//! program setting (admin API).

use super::auth::Member;
use super::envelope::{Answer, Body, Version};
use super::programs::ServedProgram;
use super::token::{token_json, ACCESS_TTL_MS, REFRESH_TTL_MS};
use crate::service::registration::{self, Started};
use crate::{passwords, AppState};
use accrue_core::member::{mask_phone, normalize_phone};
use accrue_core::registration::{Channel, RegistrationSettings, Step};
use accrue_store::confirmations::CodeError;
use accrue_store::member_auth::TokenPair;
use accrue_store::{StoreError, Ttls};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

/// Store failures: protocol errors for what the member can fix, `Fail` for the rest.
fn refused(v: Version, e: StoreError) -> Answer {
    match e {
        StoreError::Code(code) => Answer::error(v, code_message(&code)),
        StoreError::StepDone(_) => Answer::error(v, "Шаг регистрации уже выполнен."),
        StoreError::PasswordSet => Answer::error(
            v,
            "Пароль уже установлен. Для смены пароля используйте User/Password/Change.",
        ),
        StoreError::Conflict(m) | StoreError::Invalid(m) => Answer::error(v, m),
        e => Answer::fail(v, &e.to_string()),
    }
}

pub(super) fn code_message(e: &CodeError) -> String {
    match e {
        CodeError::TooSoon { seconds } => format!("Повторная отправка кода возможна через {seconds} сек."),
        CodeError::Locked { seconds } => format!("Превышено число попыток ввода кода. Повторите через {seconds} сек."),
        CodeError::Wrong { attempts_left } => format!("Неверный код подтверждения. Осталось попыток: {attempts_left}."),
        CodeError::Expired => "Срок действия кода истёк. Запросите новый код.".into(),
        CodeError::NotSent => "Код подтверждения не отправлялся.".into(),
    }
}

/// Runs a step's work and renders its answer; store errors become protocol errors.
async fn step(v: Version, work: impl std::future::Future<Output = Result<Value, StoreError>>) -> Answer {
    match work.await {
        Ok(data) => Answer::success(v, data),
        Err(e) => refused(v, e),
    }
}

async fn settings(state: &AppState, program_id: i64) -> Result<RegistrationSettings, StoreError> {
    state.store.registration_settings(program_id).await
}

#[derive(Debug, Deserialize)]
pub struct Begin {
    login: Option<String>,
    password: Option<String>,
}

/// Token lifetimes of the member API.
const TTLS: Ttls = Ttls {
    access: ACCESS_TTL_MS,
    refresh: REFRESH_TTL_MS,
};

/// `Registration/BeginRegistration {"login": phone, "password": ""}`: starts (or
/// continues) a registration by phone and sends the phone a code.
pub async fn begin(
    State(state): State<AppState>,
    served: ServedProgram,
    version: Option<axum::Extension<Version>>,
    body: Body<Begin>,
) -> Answer {
    let v = version.map_or(Version::V1_2, |e| e.0);
    let data = |state_name: &str, message: Option<&str>, tokens: Option<&TokenPair>, person: Option<i64>| {
        let mut data =
            json!({"state": state_name, "errorMessage": message, "authToken": tokens.map(|t| t.access.clone())});
        if v == Version::V1_2 {
            data["authResult"] = tokens.map_or(Value::Null, token_json);
            data["personId"] = json!(person);
        }
        data
    };
    let answer = |state_name: &str, message: &str| Answer::success(v, data(state_name, Some(message), None, None));
    // Clients raise RegistrationAlreadyCompleted / RegistrationBlocked from an `Error`
    // envelope whose data names the state, as Loymax answers.
    let refusal =
        |state_name: &str, message: &str| Answer::error_with(v, message, data(state_name, Some(message), None, None));
    let started = async {
        let program = state.store.program(&served.code).await?;
        let login = body.0.login.clone().unwrap_or_default();
        registration::begin(&state.store, &program, &login, body.0.password.clone(), TTLS).await
    };
    match started.await {
        Ok(Started::Registering { member_id, tokens }) => {
            Answer::success(v, data("Success", None, Some(&tokens), Some(member_id)))
        }
        Ok(Started::AlreadyCompleted) => refusal("RegistrationAlreadyCompleted", "Регистрация уже завершена."),
        Ok(Started::Blocked) => refusal("RegistrationBlocked", "Регистрация заблокирована."),
        Ok(Started::PasswordRequired) => answer("PasswordRequired", "Требуется пароль."),
        Ok(Started::WrongPassword) => answer("InvalidLoginPassword", "Неверный логин или пароль."),
        Ok(Started::BadPhone) => Answer::invalid(v, "login", "Неверный формат номера телефона."),
        Ok(Started::CardNotFound) => Answer::error(v, "Карта не найдена."),
        Ok(Started::CardBlocked) => Answer::error(v, "Карта заблокирована."),
        Err(e) => refused(v, e),
    }
}

fn action(step: Step, required: bool, done: &[Step]) -> Value {
    json!({"userActionType": step.as_str(), "actionState": if required { "Required" } else { "Custom" }, "isDone": done.contains(&step)})
}

/// `user/actions` (v1) and `User/RegistrationActions` (v1.2): the steps and their state.
pub async fn actions(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, async {
        let settings = settings(&state, m.owner.program_id).await?;
        let done = state.store.done_steps(m.owner.member_id).await?;
        let actions: Vec<Value> = settings
            .steps()
            .map(|(s, required)| action(s, required, &done))
            .collect();
        Ok(json!({"actions": actions}))
    })
    .await
}

/// Accepting the offer may come with a virtual card (`virtual_cards: after_offer`).
pub async fn accept_offer(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, async {
        registration::accept_offer(&state.store, m.owner).await?;
        Ok(Value::Null)
    })
    .await
}

/// A step's answer of the token pair that replaced the member's token.
fn token_data(tokens: &TokenPair) -> Value {
    let mut data = token_json(tokens);
    data["authToken"] = json!(tokens.access);
    data
}

/// What a channel's step shows: the confirmed value and the one awaiting its code.
async fn channel_info(state: &AppState, m: &Member, channel: Channel) -> Result<Value, StoreError> {
    let member = state.store.member(m.owner.program_id, m.owner.member_id).await?;
    let rules = settings(state, m.owner.program_id).await?.codes;
    let done = state.store.done_steps(member.id).await?;
    let pending = state.store.pending_target(member.id, channel).await?;
    Ok(match channel {
        Channel::Phone => {
            let current = member
                .phone
                .filter(|_| done.contains(&Step::ChangePhone))
                .map_or(String::new(), |p| mask_phone(&p));
            let new = pending.map(|p| json!({"phoneNumber": mask_phone(&p)}));
            json!({"currentPhoneNumber": current, "newPhoneNumber": new, "confirmCodeLength": rules.length})
        }
        Channel::Email => {
            let current = member.email.filter(|_| done.contains(&Step::ChangeEmail));
            let status = if current.is_some() { "Verified" } else { "Unverified" };
            let mask = current.as_deref().map(mask_email);
            json!({"currentEmail": current, "newEmail": pending.map(|e| json!({"email": e})),
                   "confirmCodeLength": rules.length, "currentNotifierStatus": status, "notifierMask": mask})
        }
    })
}

/// An address as a notice names it without showing it: `ex***@example.com`.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().take(2).collect::<String>()),
        None => "***".into(),
    }
}

pub async fn phone(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, channel_info(&state, &m, Channel::Phone)).await
}

pub async fn email(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, channel_info(&state, &m, Channel::Email)).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTarget {
    phone_number: Option<String>,
    email: Option<String>,
}

/// Sends a code to a new phone number or e-mail address: a registration step, or a
/// registered member's change. Clients read the code's length.
async fn send_to(state: &AppState, m: &Member, channel: Channel, target: String) -> Result<Value, StoreError> {
    let length = registration::send_code(&state.store, m.owner, channel, target).await?;
    Ok(json!({"codeLength": length}))
}

pub async fn change_phone(State(state): State<AppState>, m: Member, body: Body<NewTarget>) -> Answer {
    let v = m.version;
    let region = match state.store.program(&m.program.code).await {
        Ok(p) => p.phone_region,
        Err(e) => return refused(v, e),
    };
    let Some(phone) = body
        .0
        .phone_number
        .as_deref()
        .and_then(|p| normalize_phone(p, &region).ok())
    else {
        return Answer::invalid(v, "phoneNumber", "Неверный формат номера телефона.");
    };
    step(v, send_to(&state, &m, Channel::Phone, phone)).await
}

pub async fn change_email(State(state): State<AppState>, m: Member, body: Body<NewTarget>) -> Answer {
    let v = m.version;
    let Some(email) = body
        .0
        .email
        .as_deref()
        .and_then(|e| accrue_core::member::normalize_email(e).ok())
    else {
        return Answer::invalid(v, "email", "Неверный формат адреса электронной почты.");
    };
    step(v, send_to(&state, &m, Channel::Email, email)).await
}

/// Sends the code again, to the value awaiting confirmation (or the member's own).
async fn resend(state: &AppState, m: &Member, channel: Channel) -> Result<Value, StoreError> {
    registration::resend_code(&state.store, m.owner, channel).await?;
    Ok(Value::Null)
}

pub async fn resend_phone(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, resend(&state, &m, Channel::Phone)).await
}

pub async fn resend_email(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, resend(&state, &m, Channel::Email)).await
}

/// `User/PhoneNumber/CancelChange` and `User/Email/CancelChange`: the change awaiting
/// its code is given up; the member's value stays as it was.
async fn cancel_change(state: &AppState, m: &Member, channel: Channel) -> Result<Value, StoreError> {
    registration::cancel_change(&state.store, m.owner, channel).await?;
    Ok(Value::Null)
}

pub async fn cancel_phone_change(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, cancel_change(&state, &m, Channel::Phone)).await
}

pub async fn cancel_email_change(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, cancel_change(&state, &m, Channel::Email)).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Code {
    confirm_code: Option<String>,
}

pub async fn confirm_phone(State(state): State<AppState>, m: Member, body: Body<Code>) -> Answer {
    let Some(code) = body.0.confirm_code.clone() else {
        return Answer::invalid(m.version, "confirmCode", "Введите код.");
    };
    step(m.version, async {
        let rotate = Some((m.token.clone(), TTLS));
        let tokens = registration::confirm(&state.store, m.owner, Channel::Phone, &code, rotate).await?;
        Ok(tokens.as_ref().map_or(Value::Null, token_data))
    })
    .await
}

pub async fn confirm_email(State(state): State<AppState>, m: Member, body: Body<Code>) -> Answer {
    let Some(code) = body.0.confirm_code.clone() else {
        return Answer::invalid(m.version, "confirmCode", "Введите код.");
    };
    step(m.version, async {
        registration::confirm(&state.store, m.owner, Channel::Email, &code, None).await?;
        Ok(Value::Null)
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct Password {
    password: Option<String>,
}

/// `User/Password/Set`: the registration step, or the first password of a member who
/// registered without one (changing a password needs the old one: `User/Password/Change`).
pub async fn set_password(State(state): State<AppState>, m: Member, body: Body<Password>) -> Answer {
    let v = m.version;
    let password = body.0.password.clone().unwrap_or_default();
    if let Err(message) = passwords::validate(&password) {
        return Answer::invalid(v, "password", message);
    }
    step(v, async {
        let tokens = registration::set_password(&state.store, m.owner, password, m.token.clone(), TTLS).await?;
        Ok(token_data(&tokens))
    })
    .await
}

/// `Registration/TryFinishRegistration`: completes the registration, or says which
/// required steps are still open.
pub async fn finish(State(state): State<AppState>, m: Member) -> Answer {
    let v = m.version;
    match registration::finish(&state.store, m.owner, m.token.clone(), TTLS).await {
        Ok(Ok(tokens)) => {
            let mut data = token_data(&tokens);
            data["registrationCompleted"] = json!(true);
            data["uncompletedActions"] = Value::Null;
            Answer::success(v, data)
        }
        Ok(Err(missing)) => {
            // Success with the open steps: clients show them (Loymax answers so).
            let open: Vec<Value> = missing.iter().map(|s| action(*s, true, &[])).collect();
            let data = json!({"registrationCompleted": false, "uncompletedActions": open, "authToken": null,
                              "token_type": "Bearer", "access_token": null, "refresh_token": null, "expires_in": null});
            Answer::success(v, data)
        }
        Err(e) => refused(v, e),
    }
}
