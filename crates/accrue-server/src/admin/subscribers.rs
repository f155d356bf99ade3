//! Messages on a topic to the members who agreed to it: news and offers by SMS or e-mail
//! reach only those whose consent (Loymax `User/Subscriptions`) says yes; system
//! messages reach everyone who has not been able to refuse them.

use super::ProgramParam;
use crate::extract::{Json, Query};
use crate::{ApiError, AppState};
use accrue_core::subscriptions::Topic;
use accrue_store::subscriptions::Content;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MAX_TEXT: usize = 4000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribersMessage {
    /// DiscountOperation, PaymentOperation, DepositOperation, CommunicationOffer, System,
    /// Advertisement or RefundOperation.
    pub topic: String,
    /// `{"text"}` to send by SMS.
    pub sms: Option<SmsContent>,
    /// `{"subject", "body"}` to send by e-mail.
    pub email: Option<EmailContent>,
    /// `{"title", "body"}` to push to every registered device of the member's app.
    pub push: Option<PushContent>,
    /// Only these members (by id); every member of the program when absent.
    pub members: Option<Vec<i64>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsContent {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailContent {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushContent {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentView {
    /// Messages queued (for pushes, one per device).
    pub queued: u64,
    /// Members who did not agree, are not active, have no address there or do not exist.
    pub passed_over: u64,
}

fn text(value: String, field: &str) -> Result<String, ApiError> {
    let ok = !value.trim().is_empty() && value.chars().count() <= MAX_TEXT && !value.contains('\0');
    ok.then_some(value)
        .ok_or_else(|| ApiError::invalid(format!("{field} must be 1 to {MAX_TEXT} characters")))
}

fn content(m: SubscribersMessage) -> Result<Content, ApiError> {
    match (m.sms, m.email, m.push) {
        (Some(sms), None, None) => Ok(Content::Sms {
            text: text(sms.text, "sms.text")?,
        }),
        (None, Some(email), None) => Ok(Content::Email {
            subject: text(email.subject, "email.subject")?,
            body: text(email.body, "email.body")?,
        }),
        (None, None, Some(push)) => Ok(Content::Push {
            title: text(push.title, "push.title")?,
            body: text(push.body, "push.body")?,
        }),
        _ => Err(ApiError::invalid("give one of sms, email or push")),
    }
}

/// Queues the message for every member asked for who agreed to its topic by its channel.
#[utoipa::path(operation_id = "subscribers_message", post, path = "/admin/v1/subscribers/messages", params(ProgramParam),
    request_body = SubscribersMessage, responses((status = 202, body = SentView), (status = 400)), tag = "outbox")]
pub async fn send(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(mut input): Json<SubscribersMessage>,
) -> Result<(StatusCode, axum::Json<SentView>), ApiError> {
    let topic =
        Topic::parse(&input.topic).ok_or_else(|| ApiError::invalid(format!("unknown topic {:?}", input.topic)))?;
    let members = input.members.take().map(|mut ids| {
        ids.sort_unstable();
        ids.dedup();
        ids
    });
    let content = content(input)?;
    let program = p.resolve(&state.store).await?;
    let sent = state
        .store
        .send_to_subscribers(program.id, topic, content, members)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SentView {
            queued: sent.queued,
            passed_over: sent.passed_over,
        }),
    ))
}
