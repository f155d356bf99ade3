//! Operators (admins only): who may sign in, and a new one.

use super::{back, frame, Common};
use crate::console::html::{esc, field, notice, table};
use crate::console::roles::Role;
use crate::console::session::{forged, Signed};
use crate::console::{ConsoleState, Refusal};
use crate::service::operators::{self, ROLES};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

fn admins_only(who: &Signed, program: &str) -> Option<Response> {
    (who.role != Role::Admin).then(|| {
        let f = frame(who, program);
        let mut page = f.page(
            "/console",
            "Operators",
            &notice(true, "Only an admin manages operators."),
        );
        *page.status_mut() = StatusCode::FORBIDDEN;
        page
    })
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Common>) -> Response {
    let program = q.program();
    if let Some(refused) = admins_only(&who, program) {
        return refused;
    }
    let f = frame(&who, program);
    let listed = match state.app.store.operators().await {
        Ok(listed) => listed,
        Err(e) => return f.page("/console/operators", "Operators", &notice(true, &e.to_string())),
    };
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|o| {
            let active = if o.disabled_at.is_some() { "disabled" } else { "active" };
            vec![esc(&o.login), esc(&o.name), esc(&o.role), active.to_string()]
        })
        .collect();
    let roles: String = ROLES
        .iter()
        .map(|r| format!("<option value=\"{r}\">{r}</option>"))
        .collect();
    let form = format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"new-operator\">\
         <h2 id=\"new-operator\">New operator</h2>{csrf}{login}{name}\
         <label for=\"role\">Role</label><select id=\"role\" name=\"role\">{roles}</select>{password}\
         <p class=\"hint\">admin: everything; support: reads, and member care; analyst: reports only.</p>\
         <button type=\"submit\">Add</button></form>",
        action = esc(&f.link("/console/operators")),
        csrf = f.csrf_field(),
        login = field("login", "Login", "text", "", true),
        name = field("name", "Name", "text", "", true),
        password = field("password", "Password (10 characters or more)", "password", "", true),
    );
    let body = format!(
        "{}{}{form}",
        q.notices(),
        table(&["Login", "Name", "Role", "State"], &rows, "No operators.")
    );
    f.page("/console/operators", "Operators", &body)
}

#[derive(Debug, Deserialize)]
pub struct NewOperator {
    #[serde(default)]
    csrf: String,
    login: String,
    name: String,
    role: String,
    password: String,
}

pub async fn create(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<NewOperator>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    if let Some(refused) = admins_only(&who, program) {
        return refused;
    }
    let made = operators::create(&state.app.store, &form.login, &form.name, &form.role, form.password).await;
    let outcome = made
        .map(|o| format!("{} may sign in as {}", o.login, o.role))
        .map_err(|e| Refusal::invalid(e.to_string()));
    back("/console/operators", program, outcome)
}
