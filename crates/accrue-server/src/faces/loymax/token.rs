//! `POST /authorizationService/token` (form-encoded, OAuth style): the password grant
//! by phone, e-mail, card number or login, and the refresh grant. Errors are HTTP 400
//! `{"error", "error_description"}` as real clients expect.

use super::envelope::{Answer, Version};
use super::programs::ServedProgram;
use crate::{passwords, AppState};
use accrue_core::member::mask_phone;
use accrue_core::registration::{Channel, CodeRules};
use accrue_store::confirmations::CodeError;
use accrue_store::member_auth::{SignInFailure, TokenKind, TokenOwner, TokenPair};
use accrue_store::{Member, MemberSearch, StoreError};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

pub const ACCESS_TTL_MS: i64 = 3600 * 1000;
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// A device's client-credentials grant for a member: card number, phone or QR content.
    identifier: Option<String>,
}

pub(super) fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// An error that arose outside the handler (see `strays`), as an OAuth error: a bad
/// request of any kind is `400 invalid_request` (RFC 6749, 5.2), being too busy or slow
/// keeps its status as `temporarily_unavailable`.
pub fn stray(status: StatusCode, message: &str) -> Response {
    let (status, error) = match status.as_u16() {
        408 | 429 | 503 => (status, "temporarily_unavailable"),
        500.. => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        _ => (StatusCode::BAD_REQUEST, "invalid_request"),
    };
    let body = json!({"error": error, "error_description": message});
    (status, axum::Json(body)).into_response()
}

/// The OAuth token answer, also returned inside `data` by registration steps.
pub fn token_json(pair: &TokenPair) -> serde_json::Value {
    json!({
        "token_type": "Bearer",
        "access_token": pair.access,
        "refresh_token": pair.refresh,
        "expires_in": pair.expires_in,
    })
}

fn tokens(pair: TokenPair) -> Response {
    axum::Json(token_json(&pair)).into_response()
}

pub(super) fn failed(e: StoreError) -> Response {
    let id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(error_id = %id, error = %e, "token endpoint failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"error": "server_error", "error_description": id})),
    )
        .into_response()
}

/// The member a login names: e-mail when it has `@`, otherwise phone, card or login.
pub(super) async fn find(state: &AppState, program_id: i64, login: &str) -> Result<Option<Member>, StoreError> {
    let login = login.trim().to_string();
    let searches = if login.contains('@') {
        vec![MemberSearch::Email(login)]
    } else {
        vec![
            MemberSearch::Phone(login.clone()),
            MemberSearch::Card(login.clone()),
            MemberSearch::Login(login),
        ]
    };
    for search in searches {
        match state.store.find_member(program_id, search).await {
            Ok(member) => return Ok(Some(member)),
            Err(StoreError::NotFound(_) | StoreError::Invalid(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The header that carries a two-factor sign-in from the first answer to the code.
const TWO_FACTOR_HEADER: &str = "x-loymax-2fa";
const TWO_FACTOR_TTL_MS: i64 = 10 * 60 * 1000;

fn two_factor_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(TWO_FACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

pub async fn issue(
    State(state): State<AppState>,
    ServedProgram { id: program_id, .. }: ServedProgram,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    if let Some(pending) = two_factor_token(&headers) {
        return confirm_two_factor(&state, program_id, &pending, request.password.unwrap_or_default()).await;
    }
    match request.grant_type.as_deref() {
        Some("password") => password_grant(&state, program_id, request).await,
        Some("refresh_token") => {
            let Some(refresh) = request.refresh_token else {
                return oauth_error("invalid_request", "refresh_token is required");
            };
            match state
                .store
                .refresh_tokens(program_id, &refresh, ACCESS_TTL_MS, REFRESH_TTL_MS)
                .await
            {
                Ok(Some(pair)) => tokens(pair),
                Ok(None) => oauth_error("invalid_grant", "Токен обновления недействителен или истёк."),
                Err(e) => failed(e),
            }
        }
        Some("client_credentials") => {
            let (Some(id), Some(secret)) = (request.client_id, request.client_secret) else {
                return oauth_error("invalid_request", "client_id and client_secret are required");
            };
            super::processing::device::grant(&state, program_id, &id, &secret, request.identifier.as_deref()).await
        }
        _ => oauth_error(
            "unsupported_grant_type",
            "grant_type must be password, refresh_token or client_credentials",
        ),
    }
}

/// Signs in with login and password; with two-factor sign-in on, the login alone will
/// do (as the Loymax SDKs do it): the code sent to the phone is then the proof.
async fn password_grant(state: &AppState, program_id: i64, request: TokenRequest) -> Response {
    let Some(login) = request.username else {
        return oauth_error("invalid_request", "username is required");
    };
    let wrong = || oauth_error("IncorrectLoginOrPassword", "Неверный логин или пароль.");
    let member = match find(state, program_id, &login).await {
        Ok(Some(m)) => m,
        Ok(None) => return wrong(),
        Err(e) => return failed(e),
    };
    let settings = match state.store.registration_settings(program_id).await {
        Ok(settings) => settings,
        Err(e) => return failed(e),
    };
    let limit = (settings.password_attempts, settings.password_lock_seconds);
    match request.password {
        None if settings.two_factor_sign_in => {}
        None => return oauth_error("IncorrectLoginOrPassword", "Требуется указать пароль."),
        Some(password) => match passwords::check_member(&state.store, member.id, password, limit).await {
            Ok(None) => {}
            Ok(Some(refused)) => return sign_in_refused(refused),
            Err(e) => return failed(e),
        },
    }
    if !member.state.may_transact() {
        return oauth_error("UserBlocked", "Пользователь заблокирован.");
    }
    let owner = TokenOwner {
        program_id,
        member_id: member.id,
    };
    if settings.two_factor_sign_in {
        return ask_for_code(state, owner, member.phone, settings.codes).await;
    }
    match state.store.issue_tokens(owner, ACCESS_TTL_MS, REFRESH_TTL_MS).await {
        Ok(pair) => tokens(pair),
        Err(e) => failed(e),
    }
}

fn sign_in_refused(refused: SignInFailure) -> Response {
    match refused {
        SignInFailure::AttemptsLeft(left) => oauth_error(
            "IncorrectLoginOrPassword",
            &format!("Неверный логин или пароль, осталось {left} попыток."),
        ),
        SignInFailure::Locked(seconds) => locked(seconds),
        SignInFailure::Failed(e) => failed(StoreError::Internal(e)),
    }
}

fn locked(seconds: i64) -> Response {
    oauth_error(
        "UserBlocked",
        &format!("Вход заблокирован, повторите через {seconds} сек."),
    )
}

/// Two-factor sign-in: sends a code to the phone and answers HTTP 400
/// `TwoFactorAuthenticationCodeRequired` with the `X-Loymax-2FA` token to send it back with.
async fn ask_for_code(state: &AppState, owner: TokenOwner, phone: Option<String>, rules: CodeRules) -> Response {
    let Some(phone) = phone else {
        return oauth_error(
            "TwoFactorAuthenticationUnavailable",
            "Для входа нужен подтверждённый номер телефона.",
        );
    };
    match state
        .store
        .send_code(owner.program_id, owner.member_id, Channel::Phone, phone.clone(), rules)
        .await
    {
        Ok(_) => {}
        // A code sent a moment ago is still good, unless it was used: then the member
        // waits out the pause, which also holds against SMS pumping.
        Err(StoreError::Code(CodeError::TooSoon { seconds })) => {
            match state.store.pending_target(owner.member_id, Channel::Phone).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return oauth_error(
                        "TooManyRequests",
                        &format!("Новый код можно получить через {seconds} сек."),
                    )
                }
                Err(e) => return failed(e),
            }
        }
        Err(StoreError::Code(CodeError::Locked { seconds })) => {
            return oauth_error(
                "UserBlocked",
                &format!("Вход заблокирован, повторите через {seconds} сек."),
            )
        }
        Err(e) => return failed(e),
    }
    let pending = match state
        .store
        .issue_token(owner, TokenKind::TwoFactor, TWO_FACTOR_TTL_MS)
        .await
    {
        Ok(token) => token,
        Err(e) => return failed(e),
    };
    let description = format!("Введите код, отправленный на {}.", mask_phone(&phone));
    let mut response = oauth_error("TwoFactorAuthenticationCodeRequired", &description);
    if let Ok(value) = pending.parse() {
        response.headers_mut().insert(TWO_FACTOR_HEADER, value);
    }
    response
}

/// The second step of a two-factor sign-in: the code in `password`.
async fn confirm_two_factor(state: &AppState, served: i64, pending: &str, code: String) -> Response {
    let owner = match state.store.token_owner(served, pending, TokenKind::TwoFactor).await {
        Ok(Some(owner)) => owner,
        Ok(None) => {
            return oauth_error(
                "AuthenticationWithConfirmCodeExpired",
                "Время на ввод кода истекло, войдите снова.",
            )
        }
        Err(e) => return failed(e),
    };
    let rules = match state.store.registration_settings(owner.program_id).await {
        Ok(settings) => settings.codes,
        Err(e) => return failed(e),
    };
    match state
        .store
        .confirm_code(owner.program_id, owner.member_id, Channel::Phone, &code, rules)
        .await
    {
        Ok(_) => {}
        Err(StoreError::Code(CodeError::Wrong { attempts_left })) => {
            let description = format!("Неверный код подтверждения, осталось {attempts_left} попыток.");
            return oauth_error("IncorrectLoginOrPassword", &description);
        }
        Err(StoreError::Code(CodeError::Locked { seconds })) => {
            return oauth_error(
                "UserBlocked",
                &format!("Вход заблокирован, повторите через {seconds} сек."),
            )
        }
        Err(StoreError::Code(_)) => {
            return oauth_error("AuthenticationWithConfirmCodeExpired", "Код истёк, войдите снова.")
        }
        Err(e) => return failed(e),
    }
    if let Err(e) = state.store.revoke_token(pending).await {
        return failed(e);
    }
    match state.store.issue_tokens(owner, ACCESS_TTL_MS, REFRESH_TTL_MS).await {
        Ok(pair) => tokens(pair),
        Err(e) => failed(e),
    }
}

/// `POST /authorizationService/v1.2/auth/SendConfirmationCode` with `X-Loymax-2FA`:
/// sends the sign-in code again.
pub async fn resend_code(State(state): State<AppState>, served: ServedProgram, headers: HeaderMap) -> Answer {
    let v = Version::V1_2;
    let Some(pending) = two_factor_token(&headers) else {
        return Answer::invalid(v, TWO_FACTOR_HEADER, "Нет токена двухфакторной авторизации.");
    };
    let result = async {
        let Some(owner) = state
            .store
            .token_owner(served.id, &pending, TokenKind::TwoFactor)
            .await?
        else {
            return Ok(Answer::error(v, "Время на ввод кода истекло, войдите снова."));
        };
        let member = state.store.member(owner.program_id, owner.member_id).await?;
        let rules = state.store.registration_settings(owner.program_id).await?.codes;
        let phone = member.phone.ok_or(StoreError::Code(CodeError::NotSent))?;
        match state
            .store
            .send_code(owner.program_id, owner.member_id, Channel::Phone, phone, rules)
            .await
        {
            Ok(_) => Ok(Answer::success(v, Value::Null)),
            Err(StoreError::Code(CodeError::TooSoon { seconds })) => Ok(Answer::error(
                v,
                format!("Повторная отправка кода возможна через {seconds} сек."),
            )),
            Err(StoreError::Code(CodeError::Locked { seconds })) => Ok(Answer::error(
                v,
                format!("Отправка кодов заблокирована, разблокировка через {seconds} сек."),
            )),
            Err(e) => Err(e),
        }
    };
    match result.await {
        Ok(answer) => answer,
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}
