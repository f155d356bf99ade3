//! Members: create, find, update, block/archive, balances and history.

use super::views::{decimal, millis, money, pick_currency, time, Items};
use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};
use accrue_core::ledger::PostingKind;
use accrue_core::member::MemberState;
use accrue_store::ledger::HistoryQuery;
use accrue_store::{Member, MemberFields, MemberSearch};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Fields of a member; on update, absent fields stay as they are and the attributes
/// and external ids given are merged into the existing ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// Any common notation; stored as E.164 (`+79161234567`).
    pub phone: Option<String>,
    pub email: Option<String>,
    pub login: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Ids of this member in other systems, by source: `{"imshop": "u-42"}`.
    pub external_ids: Option<BTreeMap<String, String>>,
    /// `registering`, `active` (default), `blocked` or `archived`.
    #[schema(value_type = Option<String>)]
    pub state: Option<MemberState>,
}

impl From<MemberInput> for MemberFields {
    fn from(m: MemberInput) -> Self {
        MemberFields {
            state: m.state,
            phone: m.phone,
            email: m.email,
            login: m.login,
            first_name: m.first_name,
            last_name: m.last_name,
            attributes: m.attributes.unwrap_or_default(),
            external_ids: m.external_ids.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub state: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub login: Option<String>,
    pub referral_code: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub external_ids: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            id: m.id,
            state: m.state.as_str().into(),
            phone: m.phone,
            email: m.email,
            login: m.login,
            referral_code: m.referral_code,
            first_name: m.first_name,
            last_name: m.last_name,
            attributes: m.attributes,
            external_ids: m.external_ids,
            created_at: time(m.created_at),
            updated_at: time(m.updated_at),
        }
    }
}

#[utoipa::path(operation_id = "members_create", post, path = "/admin/v1/members", params(ProgramParam), request_body = MemberInput,
    responses((status = 201, body = MemberView), (status = 400), (status = 409, description = "an identifier belongs to another member")),
    tag = "members")]
pub async fn create(
    State(state): State<AppState>,
    Query(program): Query<ProgramParam>,
    Json(body): Json<MemberInput>,
) -> Result<(StatusCode, axum::Json<MemberView>), ApiError> {
    let program = program.resolve(&state.store).await?;
    let member = state.store.create_member(program.id, body.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(member.into())))
}

/// Search by one identifier, or list the program's members newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    pub program: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub login: Option<String>,
    pub card: Option<String>,
    pub referral_code: Option<String>,
    /// With `external_id`: the system the id comes from.
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

impl MemberQuery {
    fn search(&self) -> Result<Option<MemberSearch>, ApiError> {
        let q = self;
        let mut found = Vec::new();
        let mut add = |v: &Option<String>, f: fn(String) -> MemberSearch| {
            if let Some(v) = v {
                found.push(f(v.clone()));
            }
        };
        add(&q.phone, MemberSearch::Phone);
        add(&q.email, MemberSearch::Email);
        add(&q.login, MemberSearch::Login);
        add(&q.card, MemberSearch::Card);
        add(&q.referral_code, MemberSearch::ReferralCode);
        match (&q.external_source, &q.external_id) {
            (Some(source), Some(id)) => found.push(MemberSearch::ExternalId {
                source: source.clone(),
                id: id.clone(),
            }),
            (None, None) => {}
            _ => return Err(ApiError::invalid("external_source and external_id go together")),
        }
        if found.len() > 1 {
            return Err(ApiError::invalid("search by one identifier at a time"));
        }
        Ok(found.pop())
    }
}

/// The member a search names; a referral code is any kind of code the program's members
/// share (a member id, an external id, the generated code).
async fn find(
    store: &accrue_store::Store,
    program_id: i64,
    search: MemberSearch,
) -> Result<accrue_store::Member, accrue_store::StoreError> {
    match search {
        MemberSearch::ReferralCode(code) => {
            let rule = store.referral_settings(program_id).await?.code;
            store.referral_inviter(program_id, &code, &rule).await
        }
        search => store.find_member(program_id, search).await,
    }
}

#[utoipa::path(operation_id = "members_list", get, path = "/admin/v1/members", params(MemberQuery),
    responses((status = 200, body = Items<MemberView>, description = "the match of a search (zero or one), or a page of members")),
    tag = "members")]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<MemberQuery>,
) -> Result<axum::Json<Items<MemberView>>, ApiError> {
    let program = ProgramParam {
        program: q.program.clone(),
    }
    .resolve(&state.store)
    .await?;
    let items = match q.search()? {
        Some(search) => match find(&state.store, program.id, search).await {
            Ok(m) => vec![m.into()],
            Err(accrue_store::StoreError::NotFound(_)) => vec![],
            Err(e) => return Err(e.into()),
        },
        None => {
            let (offset, count) = Paging {
                offset: q.offset,
                count: q.count,
            }
            .bounds()?;
            state
                .store
                .members(program.id, offset, count)
                .await?
                .into_iter()
                .map(MemberView::from)
                .collect()
        }
    };
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(operation_id = "members_get", get, path = "/admin/v1/members/{id}", params(ProgramParam), responses((status = 200, body = MemberView), (status = 404)), tag = "members")]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(program): Query<ProgramParam>,
) -> Result<axum::Json<MemberView>, ApiError> {
    let program = program.resolve(&state.store).await?;
    Ok(axum::Json(state.store.member(program.id, id).await?.into()))
}

#[utoipa::path(operation_id = "members_update", patch, path = "/admin/v1/members/{id}", params(ProgramParam), request_body = MemberInput,
    responses((status = 200, body = MemberView), (status = 404), (status = 409)), tag = "members")]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(program): Query<ProgramParam>,
    Json(body): Json<MemberInput>,
) -> Result<axum::Json<MemberView>, ApiError> {
    let program = program.resolve(&state.store).await?;
    Ok(axum::Json(
        state.store.update_member(program.id, id, body.into()).await?.into(),
    ))
}

async fn set_state(
    state: &AppState,
    program: ProgramParam,
    id: i64,
    to: MemberState,
) -> Result<axum::Json<MemberView>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let update = MemberFields {
        state: Some(to),
        ..Default::default()
    };
    Ok(axum::Json(
        state.store.update_member(program.id, id, update).await?.into(),
    ))
}

#[utoipa::path(operation_id = "members_block", post, path = "/admin/v1/members/{id}/block", params(ProgramParam), responses((status = 200, body = MemberView)), tag = "members")]
pub async fn block(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<MemberView>, ApiError> {
    set_state(&state, p, id, MemberState::Blocked).await
}

#[utoipa::path(operation_id = "members_archive", post, path = "/admin/v1/members/{id}/archive", params(ProgramParam), responses((status = 200, body = MemberView)), tag = "members")]
pub async fn archive(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<MemberView>, ApiError> {
    set_state(&state, p, id, MemberState::Archived).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendInput {
    /// `phone` or `email`.
    #[schema(value_type = String)]
    pub channel: accrue_core::registration::Channel,
}

/// Sends the member's confirmation code again: to the phone or e-mail awaiting
/// confirmation, else to the member's own (the program's code rules apply: length,
/// pauses between sends, the daily limit). Answers the code's length.
#[utoipa::path(operation_id = "members_resend_code", post, path = "/admin/v1/members/{id}/codes/resend", params(ProgramParam),
    request_body = ResendInput, responses((status = 200, body = Object), (status = 404), (status = 409)), tag = "members")]
pub async fn resend_code(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<ResendInput>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let owner = accrue_store::member_auth::TokenOwner {
        program_id: program.id,
        member_id: id,
    };
    let length = crate::service::registration::resend_code(&state.store, owner, body.channel).await?;
    Ok(axum::Json(
        serde_json::json!({"channel": body.channel.as_str(), "length": length}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    /// 6 to 128 characters; stored as an argon2id hash.
    pub password: String,
}

/// Sets the password the member signs in with (Loymax token endpoint).
#[utoipa::path(operation_id = "members_set_password", post, path = "/admin/v1/members/{id}/password", params(ProgramParam),
    request_body = PasswordInput, responses((status = 204), (status = 400), (status = 404)), tag = "members")]
pub async fn set_password(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<PasswordInput>,
) -> Result<StatusCode, ApiError> {
    let program = p.resolve(&state.store).await?;
    crate::passwords::validate(&body.password).map_err(ApiError::invalid)?;
    state.store.member(program.id, id).await?;
    let hash = crate::passwords::hash(body.password).await?;
    state.store.set_password_hash(program.id, id, hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    pub currency: String,
    /// All points in the wallet.
    pub balance: String,
    /// Spendable now.
    pub available: String,
    pub not_activated: String,
    /// Reserved by open holds, not part of `balance`.
    pub held: String,
    pub expirations: Vec<ExpirationView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpirationView {
    pub expires_at: String,
    pub amount: String,
}

#[utoipa::path(operation_id = "members_balances", get, path = "/admin/v1/members/{id}/balances", params(ProgramParam),
    responses((status = 200, body = Items<BalanceView>), (status = 404)), tag = "members")]
pub async fn balances(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Items<BalanceView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let currencies = state.store.currencies(program.id).await?;
    let balances = state.store.balances(program.id, id).await?;
    let items = balances
        .into_iter()
        .filter_map(|b| {
            let c = currencies.iter().find(|c| c.id == b.currency_id)?;
            Some(BalanceView {
                currency: c.code.clone(),
                balance: decimal(b.balance, c),
                available: decimal(b.available, c),
                not_activated: decimal(b.not_activated, c),
                held: decimal(b.held, c),
                expirations: b
                    .expirations
                    .iter()
                    .map(|e| ExpirationView {
                        expires_at: time(e.expires_at),
                        amount: decimal(e.amount, c),
                    })
                    .collect(),
            })
        })
        .collect();
    Ok(axum::Json(Items { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    pub program: Option<String>,
    /// Currency code.
    pub currency: Option<String>,
    /// Card number.
    pub card: Option<String>,
    /// RFC 3339, inclusive.
    #[param(value_type = Option<String>)]
    pub from: Option<DateTime<FixedOffset>>,
    /// RFC 3339, exclusive.
    #[param(value_type = Option<String>)]
    pub to: Option<DateTime<FixedOffset>>,
    /// Comma-separated: accrual, withdrawal, hold_reserve, hold_capture, hold_void, expiry.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItemView {
    pub id: i64,
    pub posting_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub currency: String,
    /// Signed: positive into the wallet, negative out of it.
    pub amount: String,
    pub card: Option<String>,
    pub hold_id: Option<i64>,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub total: i64,
    pub items: Vec<HistoryItemView>,
}

#[utoipa::path(operation_id = "members_history", get, path = "/admin/v1/members/{id}/history", params(HistoryParams),
    responses((status = 200, body = HistoryView), (status = 400), (status = 404)), tag = "members")]
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<HistoryParams>,
) -> Result<axum::Json<HistoryView>, ApiError> {
    let program = ProgramParam {
        program: q.program.clone(),
    }
    .resolve(&state.store)
    .await?;
    state.store.member(program.id, id).await?;
    let currencies = state.store.currencies(program.id).await?;
    let currency_id = match &q.currency {
        Some(code) => Some(pick_currency(&currencies, Some(code))?.id),
        None => None,
    };
    let kinds = q
        .kind
        .iter()
        .flat_map(|k| k.split(','))
        .map(|k| PostingKind::parse(k.trim()).ok_or_else(|| ApiError::invalid(format!("unknown history type {k:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (offset, count) = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let query = HistoryQuery {
        member_id: id,
        currency_id,
        card: q.card.clone(),
        from: q.from.as_ref().map(millis),
        to: q.to.as_ref().map(millis),
        kinds,
        offset,
        count,
    };
    let page = state.store.history(program.id, query).await?;
    let items = page
        .items
        .into_iter()
        .filter_map(|i| {
            let c = currencies.iter().find(|c| c.id == i.currency_id)?;
            Some(HistoryItemView {
                id: i.entry_id,
                posting_id: i.posting_id,
                kind: i.kind.as_str().into(),
                currency: c.code.clone(),
                amount: decimal(i.amount, c),
                card: i.card,
                hold_id: i.hold_id,
                description: i.description,
                created_at: time(i.created_at),
            })
        })
        .collect();
    Ok(axum::Json(HistoryView {
        total: page.total,
        items,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurchasesParams {
    pub program: Option<String>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

/// A purchase as an operator reads it: money in the cheque's units with two decimals,
/// points in the purchase's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseView {
    /// The till's purchase key.
    pub key: String,
    /// The cheque's number as the till printed it.
    pub number: Option<String>,
    /// `open`, `confirmed` or `canceled`.
    pub state: String,
    /// The cheque's total after all discounts; none before it was priced.
    pub total: Option<String>,
    pub discount: Option<String>,
    pub currency: String,
    pub bonus_paid: String,
    pub accrual: String,
    pub refunded_payment: String,
    pub refunded_accrual: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PurchasesView {
    pub total: i64,
    pub items: Vec<PurchaseView>,
}

#[utoipa::path(operation_id = "members_purchases", get, path = "/admin/v1/members/{id}/purchases", params(PurchasesParams),
    responses((status = 200, body = PurchasesView), (status = 400), (status = 404)), tag = "members")]
pub async fn purchases(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PurchasesParams>,
) -> Result<axum::Json<PurchasesView>, ApiError> {
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    state.store.member(program.id, id).await?;
    let (offset, count) = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let currencies = state.store.currencies(program.id).await?;
    let (total, found) = state.store.member_purchases(program.id, id, offset, count).await?;
    let items = found
        .into_iter()
        .filter_map(|p| {
            let c = currencies.iter().find(|c| c.id == p.currency_id)?;
            let calculation = p.cheque.as_ref().map(|cheque| &cheque.calculation);
            Some(PurchaseView {
                number: p.cheque.as_ref().and_then(|cheque| cheque.number.clone()),
                total: calculation.map(|calc| money(calc.total_amount)),
                discount: calculation.map(|calc| money(calc.total_discount)),
                key: p.purchase_key,
                state: p.state.as_str().into(),
                currency: c.code.clone(),
                bonus_paid: decimal(p.bonus_paid, c),
                accrual: decimal(p.accrual, c),
                refunded_payment: decimal(p.refunded_payment, c),
                refunded_accrual: decimal(p.refunded_accrual, c),
                created_at: time(p.created_at),
            })
        })
        .collect();
    Ok(axum::Json(PurchasesView { total, items }))
}
