//! Operators (admins only): who may sign in, a new one, disabling and enabling, and
//! setting a password; and for every operator, a page to change their own password.

use super::{back, frame, Common};
use crate::console::html::{esc, field, notice, table, Frame};
use crate::console::roles::Role;
use crate::console::session::{forged, Signed};
use crate::console::{ConsoleState, Refusal};
use crate::passwords;
use crate::service::operators::{self, ROLES};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

/// Why an admin's form is not taken: a wrong form token, or not an admin.
fn refused_form(who: &Signed, csrf: &str, program: &str) -> Option<Response> {
    if !who.checks(csrf) {
        return Some(forged());
    }
    admins_only(who, program)
}

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
            let switch = if o.login == who.operator.login {
                "you".to_string()
            } else {
                switch_form(&f, &o.login, o.disabled_at.is_none())
            };
            vec![esc(&o.login), esc(&o.name), esc(&o.role), active.to_string(), switch]
        })
        .collect();
    let logins: String = listed
        .iter()
        .map(|o| format!("<option value=\"{0}\">{0}</option>", esc(&o.login)))
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
    let password = format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"set-password\">\
         <h2 id=\"set-password\">Set a password</h2>{csrf}\
         <label for=\"password-login\">Operator</label><select id=\"password-login\" name=\"login\">{logins}</select>{password}\
         <p class=\"hint\">Their sessions end; they sign in with the new password.</p>\
         <button type=\"submit\">Set</button></form>",
        action = esc(&f.link("/console/operators/password")),
        csrf = f.csrf_field(),
        password = field("new_password", "New password (10 characters or more)", "password", "", true),
    );
    let body = format!(
        "{}{}<div class=\"cards\">{form}{password}</div>",
        q.notices(),
        table(&["Login", "Name", "Role", "State", ""], &rows, "No operators.")
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
    let program = q.program();
    if let Some(refused) = refused_form(&who, &form.csrf, program) {
        return refused;
    }
    let made = operators::create(&state.app.store, &form.login, &form.name, &form.role, form.password).await;
    let outcome = made
        .map(|o| format!("{} may sign in as {}", o.login, o.role))
        .map_err(|e| Refusal::invalid(e.to_string()));
    back("/console/operators", program, outcome)
}

fn switch_form(f: &Frame, login: &str, active: bool) -> String {
    let (value, label, class) = if active {
        ("disable", "Disable", "small danger")
    } else {
        ("enable", "Enable", "small")
    };
    format!(
        "<form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"login\" value=\"{}\">\
         <button type=\"submit\" name=\"action\" value=\"{value}\" class=\"{class}\" aria-label=\"{label} {}\">{label}</button></form>",
        esc(&f.link("/console/operators/switch")),
        f.csrf_field(),
        esc(login),
        esc(login),
    )
}

#[derive(Debug, Deserialize)]
pub struct Switch {
    #[serde(default)]
    csrf: String,
    login: String,
    action: String,
}

/// Disables or enables another operator.
pub async fn switch(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<Switch>,
) -> Response {
    let program = q.program();
    if let Some(refused) = refused_form(&who, &form.csrf, program) {
        return refused;
    }
    if form.login == who.operator.login {
        return back(
            "/console/operators",
            program,
            Err(Refusal::invalid("you cannot disable yourself")),
        );
    }
    let disabled = match form.action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return back(
                "/console/operators",
                program,
                Err(Refusal::invalid("the action is enable or disable")),
            )
        }
    };
    let outcome = operators::set_disabled(&state.app.store, &form.login, disabled).await;
    tracing::info!(operator = %who.operator.login, login = %form.login, action = %form.action, ok = outcome.is_ok(), "console action");
    let outcome = outcome
        .map(|o| format!("{} {}d", o.login, form.action))
        .map_err(|e| Refusal::invalid(e.to_string()));
    back("/console/operators", program, outcome)
}

#[derive(Debug, Deserialize)]
pub struct SetPassword {
    #[serde(default)]
    csrf: String,
    login: String,
    new_password: String,
}

/// An admin sets another operator's password (or their own, without the old one).
pub async fn set_password(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<SetPassword>,
) -> Response {
    let program = q.program();
    if let Some(refused) = refused_form(&who, &form.csrf, program) {
        return refused;
    }
    let outcome = operators::set_password(&state.app.store, &form.login, form.new_password).await;
    tracing::info!(operator = %who.operator.login, login = %form.login, action = "set password", ok = outcome.is_ok(), "console action");
    let outcome = outcome
        .map(|o| format!("{} has a new password", o.login))
        .map_err(|e| Refusal::invalid(e.to_string()));
    back("/console/operators", program, outcome)
}

/// Every operator's own page: change the password, giving the current one.
pub async fn own_password_page(who: Signed, Query(q): Query<Common>) -> Response {
    let program = q.program();
    let f = frame(&who, program);
    let form = format!(
        "{}<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"own-password\">\
         <h2 id=\"own-password\">Change your password</h2>{csrf}{current}{new}\
         <p class=\"hint\">All your sessions end, this one too: sign in again with the new password.</p>\
         <button type=\"submit\">Change</button></form>",
        q.notices(),
        action = esc(&f.link("/console/password")),
        csrf = f.csrf_field(),
        current = field("current_password", "Current password", "password", "", true),
        new = field(
            "new_password",
            "New password (10 characters or more)",
            "password",
            "",
            true
        ),
    );
    f.page("/console/password", "Your password", &form)
}

#[derive(Debug, Deserialize)]
pub struct OwnPassword {
    #[serde(default)]
    csrf: String,
    current_password: String,
    new_password: String,
}

/// Changes the operator's own password once the current one matches; a wrong one counts
/// as a failed sign-in (five lock the login).
pub async fn change_own_password(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<OwnPassword>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let store = &state.app.store;
    let login = who.operator.login.clone();
    let attempt = store
        .console_attempt(login.clone(), format!("operator:{}", who.operator.id))
        .await;
    let matched = match attempt {
        Ok(Some((_, hash))) => passwords::verify(form.current_password, hash).await,
        Ok(None) => false,
        Err(e) => return back("/console/password", program, Err(Refusal::invalid(e.to_string()))),
    };
    if !matched {
        let refusal = Refusal::invalid("the current password is wrong");
        return back("/console/password", program, Err(refusal));
    }
    match operators::set_password(store, &login, form.new_password).await {
        Ok(_) => {
            tracing::info!(operator = %login, action = "changed own password", "console action");
            Redirect::to("/console/sign-in").into_response()
        }
        Err(e) => back("/console/password", program, Err(Refusal::invalid(e.to_string()))),
    }
}
