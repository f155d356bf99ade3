//! The password once registered: `User/Password/Change` (old and new), and the forgotten
//! password, `ResetPassword/Start` → a code to the phone or e-mail → `ResetPassword/Confirm`
//! with the code and the new password (or `ResetPassword/Cancel`). A new password ends every
//! earlier session and answers a fresh token pair.

use super::auth::Member;
use super::envelope::{Answer, Body, Version};
use super::programs::ServedProgram;
use super::registration::code_message;
use super::token::{token_json, ACCESS_TTL_MS, REFRESH_TTL_MS};
use crate::{passwords, AppState};
use accrue_core::registration::Channel;
use accrue_store::member_auth::{SignInFailure, TokenOwner};
use accrue_store::{MemberSearch, StoreError};
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{json, Value};

fn refused(v: Version, e: StoreError) -> Answer {
    match e {
        StoreError::Code(code) => Answer::error(v, code_message(&code)),
        e => Answer::fail(v, &e.to_string()),
    }
}

fn version(v: Option<axum::Extension<Version>>) -> Version {
    v.map_or(Version::V1_2, |e| e.0)
}

/// A new password: validated and hashed, or the `ValidationError` to answer.
async fn new_hash(v: Version, field: &str, password: Option<String>) -> Result<String, Answer> {
    let password = password.unwrap_or_default();
    passwords::validate(&password).map_err(|message| Answer::invalid(v, field, message))?;
    passwords::hash(password).await.map_err(|e| Answer::fail(v, &e.message))
}

async fn replace(state: &AppState, v: Version, owner: TokenOwner, hash: String) -> Answer {
    match state
        .store
        .replace_password(owner, hash, ACCESS_TTL_MS, REFRESH_TTL_MS)
        .await
    {
        Ok(pair) => Answer::success(v, token_json(&pair)),
        Err(e) => refused(v, e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    old_password: Option<String>,
    new_password: Option<String>,
}

/// `POST User/Password/Change`: the fields in a JSON body, or in the query as the
/// generated Kotlin client sends them.
pub async fn change(State(state): State<AppState>, m: Member, Query(query): Query<Change>, body: Bytes) -> Answer {
    let v = m.version;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        query
    } else {
        match serde_json::from_slice::<Change>(&body) {
            Ok(request) => request,
            Err(e) => return Answer::invalid(v, "body", e.to_string()),
        }
    };
    let Some(old) = request.old_password.filter(|p| !p.is_empty()) else {
        return Answer::invalid(v, "oldPassword", "Введите текущий пароль.");
    };
    if request.new_password.as_deref() == Some(old.as_str()) {
        return Answer::invalid(v, "newPassword", "Новый пароль совпадает с текущим.");
    }
    let member_id = m.owner.member_id;
    let result: Result<Option<Answer>, StoreError> = async {
        let settings = state.store.registration_settings(m.owner.program_id).await?;
        let limit = (settings.password_attempts, settings.password_lock_seconds);
        let Some(failure) = passwords::check_member(&state.store, member_id, old, limit).await? else {
            return Ok(None);
        };
        Ok(Some(Answer::error(
            v,
            match failure {
                SignInFailure::AttemptsLeft(left) => format!("Неправильный пароль. Осталось попыток: {left}."),
                SignInFailure::Locked(seconds) => {
                    format!("Слишком много неверных паролей, повторите через {seconds} сек.")
                }
                SignInFailure::Failed(e) => return Err(StoreError::Internal(e)),
            },
        )))
    }
    .await;
    match result {
        Ok(Some(refusal)) => return refusal,
        Ok(None) => {}
        Err(e) => return refused(v, e),
    }
    match new_hash(v, "newPassword", request.new_password).await {
        Ok(hash) => replace(&state, v, m.owner, hash).await,
        Err(answer) => answer,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reset {
    notifier_identity: Option<String>,
    confirm_code: Option<String>,
    new_password: Option<String>,
}

/// The registered member a phone number or e-mail names, and the channel to reach it by.
async fn notifier(
    state: &AppState,
    program_id: i64,
    identity: &str,
) -> Result<Option<(TokenOwner, Channel, String)>, StoreError> {
    let identity = identity.trim().to_string();
    let (search, channel) = if identity.contains('@') {
        (MemberSearch::Email(identity), Channel::Email)
    } else {
        (MemberSearch::Phone(identity), Channel::Phone)
    };
    let member = match state.store.find_member(program_id, search).await {
        Ok(member) => member,
        Err(StoreError::NotFound(_) | StoreError::Invalid(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let target = match channel {
        Channel::Phone => member.phone,
        Channel::Email => member.email,
    };
    let registered = member.state == accrue_core::member::MemberState::Active;
    Ok(target.filter(|_| registered).map(|target| {
        let owner = TokenOwner {
            program_id,
            member_id: member.id,
        };
        (owner, channel, target)
    }))
}

const UNKNOWN: &str = "Участник с таким номером телефона или адресом эл. почты не найден.";

/// Finds the member of a reset request, or the answer that ends it.
async fn reset_member(
    state: &AppState,
    v: Version,
    program: &ServedProgram,
    request: &Reset,
) -> Result<(TokenOwner, Channel, String), Answer> {
    let Some(identity) = request.notifier_identity.as_deref().filter(|i| !i.trim().is_empty()) else {
        return Err(Answer::invalid(
            v,
            "notifierIdentity",
            "Укажите номер телефона или адрес эл. почты.",
        ));
    };
    match notifier(state, program.id, identity).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(Answer::error(v, UNKNOWN)),
        Err(e) => Err(refused(v, e)),
    }
}

/// `POST ResetPassword/Start {"notifierIdentity"}` → `{"codeLength"}`; the code goes out
/// through the outbox like registration codes.
pub async fn start(
    State(state): State<AppState>,
    served: ServedProgram,
    version_asked: Option<axum::Extension<Version>>,
    body: Body<Reset>,
) -> Answer {
    let v = version(version_asked);
    let (owner, channel, target) = match reset_member(&state, v, &served, &body.0).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let sent = async {
        let rules = state.store.registration_settings(owner.program_id).await?.codes;
        state
            .store
            .send_code(owner.program_id, owner.member_id, channel, target, rules)
            .await
    };
    match sent.await {
        Ok(sent) => Answer::success(v, json!({"codeLength": sent.length})),
        Err(e) => refused(v, e),
    }
}

/// `POST ResetPassword/Confirm {"notifierIdentity", "confirmCode", "newPassword"}` → tokens.
pub async fn confirm(
    State(state): State<AppState>,
    served: ServedProgram,
    version_asked: Option<axum::Extension<Version>>,
    body: Body<Reset>,
) -> Answer {
    let v = version(version_asked);
    let request = body.0;
    let Some(code) = request.confirm_code.clone().filter(|c| !c.trim().is_empty()) else {
        return Answer::invalid(v, "confirmCode", "Введите код.");
    };
    if let Err(message) = passwords::validate(request.new_password.as_deref().unwrap_or_default()) {
        return Answer::invalid(v, "newPassword", message);
    }
    let (owner, channel, _) = match reset_member(&state, v, &served, &request).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let checked = async {
        let rules = state.store.registration_settings(owner.program_id).await?.codes;
        state
            .store
            .confirm_code(owner.program_id, owner.member_id, channel, &code, rules)
            .await
    };
    if let Err(e) = checked.await {
        return refused(v, e);
    }
    match new_hash(v, "newPassword", request.new_password).await {
        Ok(hash) => replace(&state, v, owner, hash).await,
        Err(answer) => answer,
    }
}

/// `POST ResetPassword/Cancel {"notifierIdentity"}`: the code sent stops working.
pub async fn cancel(
    State(state): State<AppState>,
    served: ServedProgram,
    version_asked: Option<axum::Extension<Version>>,
    body: Body<Reset>,
) -> Answer {
    let v = version(version_asked);
    let (owner, channel, _) = match reset_member(&state, v, &served, &body.0).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match state.store.cancel_code(owner.member_id, channel).await {
        Ok(()) => Answer::success(v, Value::Null),
        Err(e) => refused(v, e),
    }
}
