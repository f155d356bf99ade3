//! JSON snapshots of the faces' answers: every answer a protocol document shows (and the
//! error envelopes of each face), recorded over real HTTP from a real server.
//!
//! A scenario drives a server with [`Wire`] and names each answer it wants kept. It runs
//! on SQLite and, when `ACCRUE_TEST_POSTGRES_URL` is set, again on PostgreSQL; both
//! transcripts must match the same `.snap` files in `snapshots/` (insta's
//! `allow_duplicates!` fails the test when the PostgreSQL answer differs from the SQLite
//! one, even while snapshots are being accepted). A snapshot keeps the status, the
//! headers a client reads and the body as JSON; what changes from run to run (tokens,
//! times, click ids) is redacted by insta, and only after its form is checked.
//!
//! To accept changed or new snapshots: `INSTA_UPDATE=always cargo test -p accrue-server
//! --test it snapshots`, then review the `.snap` diff (README.md, "Snapshots of the faces' answers").

mod batch;
mod envelopes;
mod imshop;
mod integra;
mod loymax_catalogue;
mod loymax_member;
mod loymax_processing;
mod loymax_registration;
mod tracker;

use accrue_server::testing::TestServer;
use accrue_store::testing::TestDb;
use insta::internals::{Content, Redaction};
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;

/// Declares each named `async fn(Wire) -> Wire` as a snapshot test on both backends.
macro_rules! snapshot_scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite_and_postgres() {
                $crate::snapshots::check(stringify!($name), super::$name).await;
            }
        }
    )*};
}
pub(crate) use snapshot_scenarios;

/// Headers kept in a snapshot (when present): the ones clients read.
const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "location",
    "retry-after",
    "cache-control",
    "x-loymax-2fa",
    "x-loymax-traceid",
];

/// One answer as snapshotted.
struct Answer {
    name: String,
    /// The request, as the snapshot's description: `POST /api/v1/…`.
    request: String,
    value: Value,
    /// Redactions of this answer only: `(selector, label)`.
    redactions: Vec<(String, &'static str)>,
}

/// A server and the answers a scenario recorded from it.
pub struct Wire {
    pub s: TestServer,
    /// A client that does not follow redirects (the tracker's redirect is an answer).
    http: reqwest::Client,
    answers: Vec<Answer>,
    /// Values that differ run to run, replaced by a name in the requests shown.
    aliases: Vec<(String, String)>,
}

/// The body of a request.
pub enum Body {
    None,
    Json(Value),
    /// Form-urlencoded fields.
    Form(Vec<(String, String)>),
    /// Bytes sent as they are, with a content type.
    Raw(&'static str, Vec<u8>),
}

/// A request to record: method, path (with query), token and body, headers.
pub struct Call {
    method: Method,
    path: String,
    token: Option<String>,
    body: Body,
    headers: Vec<(String, String)>,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            token: None,
            body: Body::None,
            headers: Vec::new(),
        }
    }

    pub fn get(path: impl Into<String>) -> Call {
        Call::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Call {
        Call::new(Method::POST, path)
    }

    /// `Authorization: Bearer <token>`.
    pub fn token(mut self, token: &str) -> Call {
        self.token = Some(token.to_string());
        self
    }

    pub fn json(mut self, body: Value) -> Call {
        self.body = Body::Json(body);
        self
    }

    pub fn form(mut self, fields: &[(&str, &str)]) -> Call {
        self.body = Body::Form(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        self
    }

    pub fn raw(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Call {
        self.body = Body::Raw(content_type, body.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

impl Wire {
    pub async fn start(db: TestDb) -> Wire {
        Wire {
            s: TestServer::start(db).await,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            answers: Vec::new(),
            aliases: Vec::new(),
        }
    }

    /// Shows `value` (an id made at random, a secret) as `alias` in the requests the
    /// snapshots describe.
    pub fn alias(&mut self, value: &str, alias: &str) {
        self.aliases.push((value.to_string(), alias.to_string()));
    }

    /// Sends the call, keeps its answer as the snapshot `name`, and returns the body
    /// (`Null` when empty, a string when not JSON).
    pub async fn record(&mut self, name: &str, call: Call) -> Value {
        let (value, body) = self.exchange(&call).await;
        let mut request = format!("{} {}", call.method, call.path);
        for (secret, alias) in &self.aliases {
            request = request.replace(secret, alias);
        }
        assert!(
            self.answers.iter().all(|a| a.name != name),
            "two answers are named {name}"
        );
        self.answers.push(Answer {
            name: name.to_string(),
            request,
            value,
            redactions: Vec::new(),
        });
        body
    }

    /// Redacts a value made at random (a generated card number, an error id) in the
    /// answer recorded last: the string at `selector`, or its tail after the last `=`,
    /// space or `/`, when that is 8 or more URL-safe characters, becomes `label`.
    pub fn redact_last(&mut self, selector: &str, label: &'static str) {
        let last = self.answers.last_mut().expect("an answer");
        last.redactions.push((selector.to_string(), label));
    }

    /// A header of the answer recorded last.
    pub fn last_header(&self, name: &str) -> String {
        let last = self.answers.last().expect("an answer");
        let value = last.value["headers"][name].as_str();
        value
            .unwrap_or_else(|| panic!("no {name} in {}", last.value))
            .to_string()
    }

    /// Sends the call without keeping the answer; the status and the body.
    pub async fn send(&self, call: Call) -> (u16, Value) {
        let (value, body) = self.exchange(&call).await;
        (value["status"].as_u64().unwrap_or_default() as u16, body)
    }

    /// The answer as snapshotted (`{"status", "headers", "body"}`) and the body.
    async fn exchange(&self, call: &Call) -> (Value, Value) {
        let mut request = self
            .http
            .request(call.method.clone(), format!("{}{}", self.s.base, call.path));
        if let Some(token) = &call.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        request = match &call.body {
            Body::None => request,
            Body::Json(body) => request.json(body),
            Body::Form(fields) => request.form(fields),
            Body::Raw(content_type, bytes) => request.header("content-type", *content_type).body(bytes.clone()),
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let mut headers = serde_json::Map::new();
        for name in KEPT_HEADERS {
            if let Some(value) = response.headers().get(name) {
                headers.insert(name.into(), json!(value.to_str().expect("header text")));
            }
        }
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(body) => {
                    assert_eq!(
                        numbers(&text),
                        numbers(&body.to_string()),
                        "{} {}: the snapshot would not show the numbers as sent: {text}",
                        call.method,
                        call.path
                    );
                    body
                }
                Err(_) => Value::String(text),
            }
        };
        (json!({"status": status, "headers": headers, "body": body}), body)
    }
}

/// The number literals of a JSON text, sorted: the same in the text as sent and in its
/// parsed value rendered again means the snapshot shows the numbers as they were sent
/// (`10.0` stays `10.0`, `10` stays `10`).
fn numbers(json: &str) -> Vec<String> {
    let (mut found, mut current) = (Vec::new(), String::new());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let part = c.is_ascii_digit() || c == '-' || (!current.is_empty() && matches!(c, '.' | 'e' | 'E' | '+'));
        if part {
            current.push(c);
        } else if !current.is_empty() {
            found.push(std::mem::take(&mut current));
        }
        in_string = c == '"';
    }
    found.extend((!current.is_empty()).then_some(current));
    found.sort();
    found
}

/// Runs a scenario on SQLite and (when configured) PostgreSQL and checks every answer
/// against its snapshot `<scenario>__<answer>`.
pub async fn check<F, Fut>(scenario: &str, run: F)
where
    F: Fn(Wire) -> Fut,
    Fut: Future<Output = Wire>,
{
    let sqlite = run(Wire::start(TestDb::sqlite()).await).await.answers;
    let postgres = match TestDb::postgres().await {
        Some(db) => Some(run(Wire::start(db).await).await.answers),
        None => None,
    };
    assert!(!sqlite.is_empty(), "{scenario} recorded nothing");
    if let Some(postgres) = &postgres {
        let names = |answers: &[Answer]| answers.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&sqlite), names(postgres), "{scenario}: the backends' transcripts");
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    for (selector, redaction) in redactions() {
        settings.add_redaction(&selector, redaction);
    }
    // The first assertion of a name is the gold master; the PostgreSQL answer must
    // equal it, whatever INSTA_UPDATE says.
    insta::allow_duplicates! {
        for answers in std::iter::once(&sqlite).chain(postgres.as_ref()) {
            for answer in answers {
                let mut settings = settings.clone();
                settings.set_description(&answer.request);
                for (selector, label) in &answer.redactions {
                    settings.add_redaction(selector, generated(label, 8));
                }
                settings.bind(|| {
                    insta::assert_json_snapshot!(format!("{scenario}__{}", answer.name), answer.value);
                });
            }
        }
    }
}

/// What differs run to run, wherever it appears, and what it must look like.
fn redactions() -> Vec<(String, Redaction)> {
    let mut redactions = Vec::new();
    for key in ["authToken", "access_token", "refresh_token"] {
        redactions.push((key, secret("[token]", 16)));
    }
    for key in [
        "dateTime",
        "creationDate",
        "created_at",
        "codeGeneratedDate",
        "createDate",
        "updateDate",
        "activationDate",
    ] {
        redactions.push((key, time()));
    }
    redactions.push(("click_id", secret("[click id]", 20)));
    // PostgreSQL's sequences skip the numbers of rolled-back inserts (a duplicate).
    redactions.push(("conversion_id", number("[conversion id]")));
    redactions
        .into_iter()
        .map(|(key, redaction)| (format!(".**.{key}"), redaction))
        .chain([
            (r#".headers["x-loymax-2fa"]"#.into(), secret("[token]", 16)),
            (".headers.location".into(), generated("[click id]", 20)),
            // Seconds until the rate limit lets the next postback in: it depends on
            // how long the scenario took (the scenario checks the value).
            (r#".headers["retry-after"]"#.into(), number("[seconds]")),
        ])
        .collect()
}

/// A string of at least `min` URL-safe characters becomes `label`; anything else stays
/// as it is, so that a missing or malformed value shows in the snapshot.
fn secret(label: &'static str, min: usize) -> Redaction {
    insta::dynamic_redaction(move |value: Content, _| match value.as_str() {
        Some(s) if s.len() >= min && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)) => {
            Content::from(label)
        }
        _ => value,
    })
}

/// A positive integer (or a header holding one) becomes `label`; anything else stays as
/// it is.
fn number(label: &'static str) -> Redaction {
    insta::dynamic_redaction(move |value: Content, _| {
        let n = value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok()));
        match n {
            Some(n) if n > 0 => Content::from(label),
            _ => value,
        }
    })
}

/// A UTC time in the wire format `2026-11-23T20:50:01.120Z` becomes `[time]`.
fn time() -> Redaction {
    insta::dynamic_redaction(|value: Content, _| match value.as_str() {
        Some(s) if is_wire_time(s) => Content::from("[time]"),
        _ => value,
    })
}

fn is_wire_time(s: &str) -> bool {
    const FORM: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    s.len() == FORM.len()
        && FORM
            .iter()
            .zip(s.bytes())
            .all(|(f, c)| if *f == b'd' { c.is_ascii_digit() } else { *f == c })
}

/// A value made at random: the whole string, or what follows its last `=`, space or `/`
/// (a click id at the end of a URL, an error id at the end of a message, a session token
/// at the end of a path), when that is at
/// least `min` URL-safe characters, becomes `label`; anything else stays as it is.
fn generated(label: &'static str, min: usize) -> Redaction {
    let id = move |s: &str| s.len() >= min && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    insta::dynamic_redaction(move |value: Content, _| {
        let Some(text) = value.as_str() else { return value };
        if id(text) {
            return Content::from(label);
        }
        match text.rfind(['=', ' ', '/']) {
            Some(at) if id(&text[at + 1..]) => Content::from(format!("{}{label}", &text[..=at])),
            _ => value,
        }
    })
}

#[test]
fn numbers_are_read_as_written() {
    assert_eq!(
        numbers(r#"{"a":10.0,"b":"10.00","c":[-1,2e3],"d":true,"e":"x\"1"}"#),
        ["-1", "10.0", "2e3"]
    );
    assert!(is_wire_time("2026-11-23T20:50:01.120Z"));
    assert!(!is_wire_time("2026-11-23T20:50:01Z"));
}
