//! Cards: pool import (JSON or CSV), listing, assignment, virtual emission, blocking.

use super::views::{time, Items};
use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};
use accrue_store::cards::ImportReport;
use accrue_store::{Card, CardCategory, CardFilter};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    pub number: String,
    /// `physical` or `virtual`.
    pub kind: String,
    /// `free`, `active` or `blocked`.
    pub state: String,
    pub member_id: Option<i64>,
    pub created_at: String,
    pub assigned_at: Option<String>,
}

impl From<Card> for CardView {
    fn from(c: Card) -> Self {
        CardView {
            number: c.number,
            kind: c.kind,
            state: c.state,
            member_id: c.member_id,
            created_at: time(c.created_at),
            assigned_at: c.assigned_at.map(time),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCards {
    pub numbers: Vec<String>,
    /// The code of the card category the pool's cards belong to.
    pub category: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    pub imported: u64,
    /// Numbers already in the program, left unchanged.
    pub skipped: Vec<String>,
}

/// Card numbers from a CSV body: the first column of each line; a header line whose
/// first cell is `number` is skipped.
fn csv_numbers(body: &str) -> Vec<String> {
    body.lines()
        .map(|line| {
            line.split([',', ';'])
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_string()
        })
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("number"))
        .collect()
}

#[utoipa::path(operation_id = "cards_import", post, path = "/admin/v1/cards/import", params(ProgramParam),
    request_body(content((ImportCards = "application/json"), (String = "text/csv"))),
    responses((status = 200, body = ImportView), (status = 400)), tag = "cards")]
pub async fn import(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ImportView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (numbers, category) = if content_type.starts_with("text/csv") {
        let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("CSV must be UTF-8"))?;
        (csv_numbers(text), None)
    } else if content_type.starts_with("application/json") {
        let input = serde_json::from_slice::<ImportCards>(&body)
            .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
        (input.numbers, input.category)
    } else {
        return Err(ApiError::invalid(
            "send application/json {\"numbers\": [...]} or text/csv",
        ));
    };
    let ImportReport { imported, skipped } = state.store.import_cards(program.id, numbers, category).await?;
    Ok(axum::Json(ImportView { imported, skipped }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardQuery {
    pub program: Option<String>,
    pub member_id: Option<i64>,
    /// `free`, `active` or `blocked`.
    pub state: Option<String>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

#[utoipa::path(operation_id = "cards_list", get, path = "/admin/v1/cards", params(CardQuery), responses((status = 200, body = Items<CardView>)), tag = "cards")]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<CardQuery>,
) -> Result<axum::Json<Items<CardView>>, ApiError> {
    let program = ProgramParam {
        program: q.program.clone(),
    }
    .resolve(&state.store)
    .await?;
    let (offset, count) = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let filter = CardFilter {
        member_id: q.member_id,
        state: q.state,
        offset,
        count,
    };
    let items = state
        .store
        .cards(program.id, filter)
        .await?
        .into_iter()
        .map(CardView::from)
        .collect();
    Ok(axum::Json(Items { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignCard {
    pub number: String,
}

#[utoipa::path(operation_id = "cards_assign_to_member", post, path = "/admin/v1/members/{id}/cards", params(ProgramParam), request_body = AssignCard,
    responses((status = 201, body = CardView), (status = 404, description = "unknown card"), (status = 409, description = "card blocked or taken")),
    tag = "cards")]
pub async fn assign_to_member(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<AssignCard>,
) -> Result<(StatusCode, axum::Json<CardView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    let card = state.store.assign_card(program.id, body.number, id).await?;
    Ok((StatusCode::CREATED, axum::Json(card.into())))
}

#[utoipa::path(operation_id = "cards_emit_virtual", post, path = "/admin/v1/members/{id}/cards/virtual", params(ProgramParam),
    responses((status = 201, body = CardView), (status = 404)), tag = "cards")]
pub async fn emit_virtual(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<(StatusCode, axum::Json<CardView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    let card = state.store.emit_virtual_card(program.id, id).await?;
    Ok((StatusCode::CREATED, axum::Json(card.into())))
}

async fn set_blocked(
    state: &AppState,
    p: ProgramParam,
    number: String,
    blocked: bool,
) -> Result<axum::Json<CardView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    Ok(axum::Json(
        state.store.set_card_blocked(program.id, number, blocked).await?.into(),
    ))
}

#[utoipa::path(operation_id = "cards_block", post, path = "/admin/v1/cards/{number}/block", params(ProgramParam), responses((status = 200, body = CardView)), tag = "cards")]
pub async fn block(
    State(state): State<AppState>,
    Path(number): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<CardView>, ApiError> {
    set_blocked(&state, p, number, true).await
}

#[utoipa::path(operation_id = "cards_unblock", post, path = "/admin/v1/cards/{number}/unblock", params(ProgramParam), responses((status = 200, body = CardView)), tag = "cards")]
pub async fn unblock(
    State(state): State<AppState>,
    Path(number): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<CardView>, ApiError> {
    set_blocked(&state, p, number, false).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_takes_the_first_column_and_skips_the_header() {
        let body = "number,batch\n1001,a\n\"1002\";b\n\n 1003 \n";
        assert_eq!(super::csv_numbers(body), vec!["1001", "1002", "1003"]);
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub code: String,
    /// Up to 200 characters.
    pub title: String,
    pub description: Option<String>,
    /// Virtual cards emitted from now on get this category (it takes the role from any
    /// other category).
    #[serde(default)]
    pub for_virtual: bool,
}

fn category_view(c: &CardCategory) -> serde_json::Value {
    serde_json::json!({"id": c.id, "code": c.code, "title": c.title, "description": c.description,
                       "for_virtual": c.for_virtual})
}

/// A card category: pools imported with it give it to their cards; offers' `card_category`
/// conditions see it.
#[utoipa::path(operation_id = "card_categories_create", post, path = "/admin/v1/card-categories", params(ProgramParam),
    request_body = CategoryInput, responses((status = 201, body = Object), (status = 400), (status = 409)), tag = "cards")]
pub async fn create_category(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<CategoryInput>,
) -> Result<(StatusCode, axum::Json<serde_json::Value>), ApiError> {
    super::processing::check_code(&input.code)?;
    let title_ok = !input.title.trim().is_empty() && input.title.chars().count() <= 200;
    let description_ok = input.description.as_ref().is_none_or(|d| d.chars().count() <= 2000);
    if !title_ok || !description_ok {
        return Err(ApiError::invalid(
            "title must be 1 to 200 characters, description at most 2000",
        ));
    }
    let program = p.resolve(&state.store).await?;
    let category = state
        .store
        .create_card_category(
            program.id,
            input.code,
            input.title,
            input.description,
            input.for_virtual,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(category_view(&category))))
}

#[utoipa::path(operation_id = "card_categories_list", get, path = "/admin/v1/card-categories", params(ProgramParam),
    responses((status = 200, body = Object)), tag = "cards")]
pub async fn categories(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let items: Vec<serde_json::Value> = state
        .store
        .card_categories(program.id)
        .await?
        .iter()
        .map(category_view)
        .collect();
    Ok(axum::Json(serde_json::json!({ "items": items })))
}
