//! The member cabinet: small server-rendered pages that live in the partner's iframe.
//! The session token is in the path (third-party cookies do not survive iframes), so
//! answers tell browsers to keep it out of referrers and caches. Framing is allowed to
//! the partner's origins (any when it names none); the page loads iframe-resizer's
//! content script from Accrue itself.

use crate::service::integra::{self as service, Cabinet};
use crate::AppState;
use accrue_core::money::format_minor;
use accrue_core::mustache::{escape_html, Template};
use accrue_store::integra::{CabinetSession, Partner, Payment};
use accrue_store::StoreError;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::TimeZone;
use serde::Deserialize;
use serde_json::Map;

const CSS: &str = include_str!("../../../assets/integra/cabinet.css");
const RESIZER: &str = include_str!("../../../assets/integra/iframeResizer.min.js");
const RESIZER_CONTENT: &str = include_str!("../../../assets/integra/iframeResizer.contentWindow.min.js");

/// `GET /integra/assets/{file}`: the cabinet's style and iframe-resizer's two scripts
/// (the partner's page loads `iframeResizer.min.js`).
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "cabinet.css" => (CSS, "text/css; charset=utf-8"),
        "iframeResizer.min.js" => (RESIZER, "text/javascript; charset=utf-8"),
        "iframeResizer.contentWindow.min.js" => (RESIZER_CONTENT, "text/javascript; charset=utf-8"),
        _ => return html(StatusCode::NOT_FOUND, None, "Не найдено", "<p>Такого файла нет.</p>"),
    };
    let headers = [
        (header::CONTENT_TYPE, kind),
        (header::CACHE_CONTROL, "public, max-age=86400"),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    ];
    (headers, body).into_response()
}

type Pages = Path<(String, String)>;

/// The cabinet of a live session, or the page to show instead.
async fn open(app: &AppState, path: &str, token: &str) -> Result<Cabinet, Response> {
    let partner = match app.store.partner(path).await {
        Ok(partner) => partner,
        Err(StoreError::NotFound(_)) => return Err(gone(None)),
        Err(e) => return Err(failed(e)),
    };
    match service::cabinet(&app.store, &partner, token).await {
        Ok(Some(cabinet)) => Ok(cabinet),
        Ok(None) => Err(gone(Some(&partner))),
        Err(e) => Err(failed(e)),
    }
}

fn gone(partner: Option<&Partner>) -> Response {
    let body = "<p>Сессия истекла или ссылка неверна. Откройте раздел заново на сайте партнёра.</p>";
    html(StatusCode::UNAUTHORIZED, partner, "Сессия истекла", body)
}

fn failed(e: StoreError) -> Response {
    let id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(error_id = %id, error = %e, "integra cabinet failed");
    let body = format!("<p>Что-то пошло не так. Код ошибки: {id}.</p>");
    html(StatusCode::INTERNAL_SERVER_ERROR, None, "Ошибка", &body)
}

/// `GET …/cabinet/{token}`: balance, waiting top-ups, history.
pub(super) async fn home(State(app): State<AppState>, Path((path, token)): Pages) -> Response {
    let c = match open(&app, &path, &token).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let rows: String = c
        .history
        .iter()
        .map(|item| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                when(&c.session.partner, item.created_at),
                escape_html(&item.description),
                money(&c, item.amount)
            )
        })
        .collect();
    let history = if rows.is_empty() {
        "<p>Операций пока нет.</p>".to_string()
    } else {
        format!("<table><thead><tr><th>Дата</th><th>Операция</th><th class=\"num\">Сумма</th></tr></thead><tbody>{rows}</tbody></table>")
    };
    let unread = c.messages.iter().filter(|m| m.read_at.is_none()).count();
    let body = format!(
        "<section class=\"balance\"><p>Баланс</p><p id=\"balance\" class=\"big\">{}</p>\
         <a class=\"button\" href=\"{base}/go/payment\">Пополнить</a></section>\
         {pending}<p><a href=\"{base}/messages\">Сообщения</a>{badge}</p><h2>История</h2>{history}",
        money(&c, c.balance),
        base = base(&c.session),
        pending = pending(&c),
        badge = if unread > 0 {
            format!(" <span class=\"badge\">{unread}</span>")
        } else {
            String::new()
        },
    );
    page(&c, "Личный кабинет", &body)
}

/// `GET …/go/payment`: the top-up form and the latest top-ups.
pub(super) async fn payment_form(State(app): State<AppState>, Path((path, token)): Pages) -> Response {
    match open(&app, &path, &token).await {
        Ok(c) => payment_page(&c, None),
        Err(page) => page,
    }
}

#[derive(Deserialize)]
pub(super) struct TopUp {
    amount: String,
}

/// `POST …/go/payment`: asks the partner for a top-up, then shows the form again
/// (post, redirect, get), or the form with what was wrong.
pub(super) async fn top_up(
    State(app): State<AppState>,
    Path((path, token)): Pages,
    Form(form): Form<TopUp>,
) -> Response {
    let c = match open(&app, &path, &token).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match service::top_up(&app.store, &c.session, &form.amount).await {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("{}/go/payment", base(&c.session)))],
        )
            .into_response(),
        Err(StoreError::Invalid(message)) => payment_page(&c, Some(&message)),
        Err(e) => failed(e),
    }
}

fn payment_page(c: &Cabinet, problem: Option<&str>) -> Response {
    let error = problem.map_or(String::new(), |m| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(m))
    });
    let body = format!(
        "<p>Баланс: <strong id=\"balance\">{}</strong></p>{error}\
         <form method=\"post\" action=\"{}/go/payment\"><label for=\"amount\">Сумма пополнения, {}</label>\
         <input id=\"amount\" name=\"amount\" inputmode=\"decimal\" required autocomplete=\"off\">\
         <button type=\"submit\">Пополнить со счёта партнёра</button></form>{}",
        money(c, c.balance),
        base(&c.session),
        escape_html(&c.currency.abbreviation),
        pending(c),
    );
    page(c, "Пополнение", &body)
}

/// The latest top-ups, with their state.
fn pending(c: &Cabinet) -> String {
    let rows: String = c
        .payments
        .iter()
        .filter(|p| p.kind == "top_up")
        .map(|p: &Payment| {
            format!(
                "<li class=\"{state}\">{} — {} <span class=\"state\">{}</span></li>",
                when(&c.session.partner, p.created_at),
                money(c, p.amount),
                state_name(&p.state),
                state = escape_html(&p.state),
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("<h2>Пополнения</h2><ul class=\"payments\">{rows}</ul>")
}

fn state_name(state: &str) -> &'static str {
    match state {
        "pending" => "ждёт подтверждения",
        "confirmed" => "зачислено",
        "declined" => "отклонено",
        "expired" => "не подтверждено вовремя",
        _ => "",
    }
}

/// `GET …/go/{support|help}`.
fn page_named(c: &Cabinet, name: &str) -> Response {
    let settings = &c.session.partner.settings;
    let (title, text) = match name {
        "support" => ("Поддержка", &settings.support_text),
        "help" => ("Помощь", &settings.help_text),
        _ => {
            return html(
                StatusCode::NOT_FOUND,
                Some(&c.session.partner),
                "Не найдено",
                "<p>Такой страницы нет.</p>",
            )
        }
    };
    let text = if text.trim().is_empty() {
        "<p>Партнёр пока не написал этот раздел.</p>".to_string()
    } else {
        paragraphs(text)
    };
    page(c, title, &text)
}

pub(super) async fn info_page(
    State(app): State<AppState>,
    Path((path, token, name)): Path<(String, String, String)>,
) -> Response {
    match open(&app, &path, &token).await {
        Ok(c) => page_named(&c, &name),
        Err(page) => page,
    }
}

/// `GET …/messages`: the user's messages, links to the cabinet's pages made real.
pub(super) async fn messages(State(app): State<AppState>, Path((path, token)): Pages) -> Response {
    let c = match open(&app, &path, &token).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let base = base(&c.session);
    let partner = &c.session.partner;
    let link = |name: &str| service::link_target(partner, &base, name);
    let items: String = c
        .messages
        .iter()
        .map(|m| {
            // Templated messages are HTML made from the operator's templates; a
            // message typed by hand is text.
            let text = match Template::parse(&m.body) {
                Ok(t) if m.body.contains("{{") || m.body.contains('<') => t.render(&Map::new(), &link),
                _ => escape_html(&m.body),
            };
            format!(
                "<article class=\"message{}\"><h3>{}</h3><p class=\"when\">{}</p><div>{text}</div></article>",
                if m.read_at.is_none() { " unread" } else { "" },
                escape_html(&m.title),
                when(partner, m.created_at),
            )
        })
        .collect();
    let body = if items.is_empty() {
        "<p>Сообщений нет.</p>".to_string()
    } else {
        items
    };
    page(&c, "Сообщения", &body)
}

fn base(session: &CabinetSession) -> String {
    format!("/integra/{}/cabinet/{}", session.partner.path, session.token)
}

fn money(c: &Cabinet, minor: i64) -> String {
    format!(
        "{} {}",
        format_minor(minor, c.currency.scale),
        escape_html(&c.currency.abbreviation)
    )
}

fn when(partner: &Partner, at: i64) -> String {
    service::zone(partner)
        .timestamp_millis_opt(at)
        .single()
        .map_or_else(String::new, |t| t.format("%d.%m.%Y %H:%M").to_string())
}

fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape_html(p.trim()).replace('\n', "<br>")))
        .collect()
}

fn page(c: &Cabinet, title: &str, body: &str) -> Response {
    let base = base(&c.session);
    let nav = format!(
        "<nav aria-label=\"Разделы\"><a href=\"{base}\">Кабинет</a><a href=\"{base}/go/payment\">Пополнить</a>\
         <a href=\"{base}/messages\">Сообщения</a><a href=\"{base}/go/support\">Поддержка</a>\
         <a href=\"{base}/go/help\">Помощь</a></nav>"
    );
    html(
        StatusCode::OK,
        Some(&c.session.partner),
        title,
        &format!("{nav}<main><h1>{}</h1>{body}</main>", escape_html(title)),
    )
}

/// A whole page, with the headers that let it live in the partner's frame and keep the
/// token to itself.
fn html(status: StatusCode, partner: Option<&Partner>, title: &str, body: &str) -> Response {
    let document = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/integra/assets/cabinet.css\"></head>\
         <body>{body}<script src=\"/integra/assets/iframeResizer.contentWindow.min.js\"></script></body></html>",
        escape_html(title)
    );
    let ancestors = partner
        .map(|p| p.settings.frame_ancestors.join(" "))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "*".into());
    let policy = format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], document).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
