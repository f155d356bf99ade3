//! Registration by phone, step by step, as the Loymax document describes it:
//! BeginRegistration, the steps (`user/actions`), confirmation codes for phone and
//! e-mail, the password, and TryFinishRegistration. Which steps are required is a
//! program setting (admin API).

use super::auth::Member;
use super::envelope::{Answer, Body, Version};
use super::programs::ServedProgram;
use super::token::{token_json, ACCESS_TTL_MS, REFRESH_TTL_MS};
use crate::{passwords, AppState};
use accrue_core::member::{mask_phone, normalize_phone, MemberState};
use accrue_core::registration::{Channel, Provider, RegistrationSettings, Step};
use accrue_store::confirmations::CodeError;
use accrue_store::member_auth::TokenOwner;
use accrue_store::{MemberFields, StoreError};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

/// Store failures: protocol errors for what the member can fix, `Fail` for the rest.
fn refused(v: Version, e: StoreError) -> Answer {
    match e {
        StoreError::Code(code) => Answer::error(v, code_message(&code)),
        StoreError::StepDone(_) => Answer::error(v, "Шаг регистрации уже выполнен."),
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

/// `Registration/BeginRegistration {"login": phone, "password": ""}`: starts (or
/// continues) a registration by phone and sends the phone a code.
pub async fn begin(
    State(state): State<AppState>,
    served: ServedProgram,
    version: Option<axum::Extension<Version>>,
    body: Body<Begin>,
) -> Answer {
    let v = version.map_or(Version::V1_2, |e| e.0);
    let answer = |state_name: &str,
                  message: Option<&str>,
                  tokens: Option<&accrue_store::member_auth::TokenPair>,
                  person: Option<i64>| {
        let mut data =
            json!({"state": state_name, "errorMessage": message, "authToken": tokens.map(|t| t.access.clone())});
        if v == Version::V1_2 {
            data["authResult"] = tokens.map_or(Value::Null, token_json);
            data["personId"] = json!(person);
        }
        Answer::success(v, data)
    };
    let result = async {
        let program = state.store.program(&served.code).await?;
        let settings = settings(&state, program.id).await?;
        let login = body.0.login.clone().unwrap_or_default();
        let (member, created, phone) = match settings.provider {
            Provider::Phone => {
                let Ok(phone) = normalize_phone(&login, &program.phone_region) else {
                    return Ok(Answer::invalid(v, "login", "Неверный формат номера телефона."));
                };
                let (member, created) = state.store.begin_registration(program.id, &phone).await?;
                (member, created, Some(phone))
            }
            Provider::Card => match state.store.begin_registration_by_card(program.id, &login).await {
                Ok((member, created)) => (member, created, None),
                Err(StoreError::NotFound(_)) => return Ok(Answer::error(v, "Карта не найдена.")),
                Err(StoreError::CardBlocked(_)) => return Ok(Answer::error(v, "Карта заблокирована.")),
                Err(e) => return Err(e),
            },
        };
        match member.state {
            MemberState::Registering => {}
            MemberState::Active => {
                return Ok(answer(
                    "RegistrationAlreadyCompleted",
                    Some("Регистрация уже завершена."),
                    None,
                    None,
                ))
            }
            _ => {
                return Ok(answer(
                    "RegistrationBlocked",
                    Some("Регистрация заблокирована."),
                    None,
                    None,
                ))
            }
        }
        // Continuing: once a password is set, it is needed to go on, within the
        // program's attempt limit as at sign-in.
        if state.store.password_hash(member.id).await?.is_some() {
            let Some(password) = body.0.password.clone().filter(|p| !p.is_empty()) else {
                return Ok(answer("PasswordRequired", Some("Требуется пароль."), None, None));
            };
            let limit = (settings.password_attempts, settings.password_lock_seconds);
            if passwords::check_member(&state.store, member.id, password, limit)
                .await?
                .is_some()
            {
                return Ok(answer(
                    "InvalidLoginPassword",
                    Some("Неверный логин или пароль."),
                    None,
                    None,
                ));
            }
        }
        // Registering by phone sends the code at once; by card, the phone comes later.
        if let (true, Some(phone)) = (created, phone) {
            state
                .store
                .send_code(program.id, member.id, Channel::Phone, phone, settings.codes)
                .await?;
        }
        let owner = TokenOwner {
            program_id: program.id,
            member_id: member.id,
        };
        let tokens = state.store.issue_tokens(owner, ACCESS_TTL_MS, REFRESH_TTL_MS).await?;
        Ok(answer("Success", None, Some(&tokens), Some(member.id)))
    };
    match result.await {
        Ok(answer) => answer,
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
        state
            .store
            .complete_step(m.owner.program_id, m.owner.member_id, Step::AcceptTenderOffer)
            .await?;
        let settings = settings(&state, m.owner.program_id).await?;
        if settings.virtual_cards == accrue_core::registration::VirtualCards::AfterOffer {
            super::cards::emit_if_allowed(&state, &m).await?;
        }
        Ok(Value::Null)
    })
    .await
}

/// A new token pair for the member; the one the request came with stops working.
async fn rotate(state: &AppState, m: &Member) -> Result<Value, StoreError> {
    let tokens = state.store.issue_tokens(m.owner, ACCESS_TTL_MS, REFRESH_TTL_MS).await?;
    state.store.revoke_token(&m.token).await?;
    let mut data = token_json(&tokens);
    data["authToken"] = json!(tokens.access);
    Ok(data)
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
            json!({"currentPhoneNumber": current, "newPhoneNumber": {"phoneNumber": pending.map(|p| mask_phone(&p))},
                   "confirmCodeLength": rules.length})
        }
        Channel::Email => {
            let current = member.email.filter(|_| done.contains(&Step::ChangeEmail));
            json!({"currentEmail": current, "newEmail": {"email": pending}, "confirmCodeLength": rules.length})
        }
    })
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

/// Sends a code to a new phone number or e-mail address (re-entering it).
async fn send_to(state: &AppState, m: &Member, channel: Channel, target: String) -> Result<Value, StoreError> {
    let step_of = if channel == Channel::Phone {
        Step::ChangePhone
    } else {
        Step::ChangeEmail
    };
    if state.store.done_steps(m.owner.member_id).await?.contains(&step_of) {
        return Err(StoreError::StepDone(step_of.as_str()));
    }
    let rules = settings(state, m.owner.program_id).await?.codes;
    state
        .store
        .send_code(m.owner.program_id, m.owner.member_id, channel, target, rules)
        .await?;
    Ok(Value::Null)
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

/// Sends the code again, to the value awaiting confirmation (or the member's own phone).
async fn resend(state: &AppState, m: &Member, channel: Channel) -> Result<Value, StoreError> {
    let member = state.store.member(m.owner.program_id, m.owner.member_id).await?;
    let fallback = if channel == Channel::Phone {
        member.phone
    } else {
        member.email
    };
    let target = state.store.pending_target(member.id, channel).await?.or(fallback);
    let target = target.ok_or(StoreError::Code(CodeError::NotSent))?;
    send_to(state, m, channel, target).await
}

pub async fn resend_phone(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, resend(&state, &m, Channel::Phone)).await
}

pub async fn resend_email(State(state): State<AppState>, m: Member) -> Answer {
    step(m.version, resend(&state, &m, Channel::Email)).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Code {
    confirm_code: Option<String>,
}

/// Checks the code, stores the confirmed value, marks the step done.
async fn confirm(state: &AppState, m: &Member, channel: Channel, code: &str) -> Result<Value, StoreError> {
    let (program_id, member_id) = (m.owner.program_id, m.owner.member_id);
    let rules = settings(state, program_id).await?.codes;
    let target = state
        .store
        .confirm_code(program_id, member_id, channel, code, rules)
        .await?;
    let fields = match channel {
        Channel::Phone => MemberFields {
            phone: Some(target),
            ..Default::default()
        },
        Channel::Email => MemberFields {
            email: Some(target),
            ..Default::default()
        },
    };
    state.store.update_member(program_id, member_id, fields).await?;
    let step_of = if channel == Channel::Phone {
        Step::ChangePhone
    } else {
        Step::ChangeEmail
    };
    state.store.complete_step(program_id, member_id, step_of).await?;
    Ok(Value::Null)
}

pub async fn confirm_phone(State(state): State<AppState>, m: Member, body: Body<Code>) -> Answer {
    let Some(code) = body.0.confirm_code.clone() else {
        return Answer::invalid(m.version, "confirmCode", "Введите код.");
    };
    step(m.version, async {
        confirm(&state, &m, Channel::Phone, &code).await?;
        rotate(&state, &m).await
    })
    .await
}

pub async fn confirm_email(State(state): State<AppState>, m: Member, body: Body<Code>) -> Answer {
    let Some(code) = body.0.confirm_code.clone() else {
        return Answer::invalid(m.version, "confirmCode", "Введите код.");
    };
    step(m.version, confirm(&state, &m, Channel::Email, &code)).await
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
    let hash = match passwords::hash(password).await {
        Ok(hash) => hash,
        Err(e) => return Answer::fail(v, &e.message),
    };
    step(v, async {
        let member = state.store.member(m.owner.program_id, m.owner.member_id).await?;
        if member.state == MemberState::Registering {
            state
                .store
                .complete_step(m.owner.program_id, m.owner.member_id, Step::PasswordRequired)
                .await?;
        } else if state.store.password_hash(member.id).await?.is_some() {
            return Err(StoreError::Conflict(
                "Пароль уже установлен. Для смены пароля используйте User/Password/Change.".into(),
            ));
        }
        state
            .store
            .set_password_hash(m.owner.program_id, m.owner.member_id, hash)
            .await?;
        rotate(&state, &m).await
    })
    .await
}

/// `Registration/TryFinishRegistration`: completes the registration, or says which
/// required steps are still open.
pub async fn finish(State(state): State<AppState>, m: Member) -> Answer {
    let v = m.version;
    let result = async {
        let settings = settings(&state, m.owner.program_id).await?;
        let missing = state
            .store
            .finish_registration(m.owner.program_id, m.owner.member_id, &settings)
            .await?;
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            let open: Vec<Value> = missing.iter().map(|s| action(*s, true, &[])).collect();
            let data = json!({"registrationCompleted": false, "authToken": null, "uncompletedActions": open});
            return Ok(Answer::error_with(
                v,
                format!("Не выполнены обязательные шаги регистрации: {}.", names.join(", ")),
                data,
            ));
        }
        let mut data = rotate(&state, &m).await?;
        data["registrationCompleted"] = json!(true);
        data["uncompletedActions"] = Value::Null;
        Ok(Answer::success(v, data))
    };
    match result.await {
        Ok(answer) => answer,
        Err(e) => refused(v, e),
    }
}
