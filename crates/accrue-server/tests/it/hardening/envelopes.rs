//! Every class of malformed input, sent to every face, is answered in that face's own
//! envelope and status conventions, and changes nothing.

use super::{member_with_password, raw, Expect};
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(malformed_input_meets_each_faces_envelope);

/// A request: method, path, content type, body, with the member's token or not.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    token: bool,
    expect: (StatusCode, Expect),
}

fn case(name: &'static str, method: Method, path: impl Into<String>, expect: (StatusCode, Expect)) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        token: false,
        expect,
    }
}

impl Case {
    fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = Some(content_type);
        self.body = body.into();
        self
    }

    fn with_token(mut self) -> Case {
        self.token = true;
        self
    }
}

async fn malformed_input_meets_each_faces_envelope(db: TestDb) {
    let s = TestServer::start(db).await;
    let token = member_with_password(&s, "+79161234567", "secret-1").await;
    let (_, integration) = s
        .admin(
            Method::POST,
            "/admin/v1/tracker/integrations",
            Some(json!({"name": "Net", "click_param": "sub1"})),
        )
        .await;
    let uid = integration["id"].as_str().unwrap().to_string();
    let (_, link) = s
        .admin(
            Method::POST,
            "/admin/v1/tracker/links",
            Some(json!({"integration": uid, "name": "Reg", "base_url": "https://partner.example/reg", "params": []})),
        )
        .await;
    let slug = link["slug"].as_str().unwrap_or("x").to_string();
    let postback = format!("/api/postbacks/{uid}/tracker-postback");
    let long = "x".repeat(20_000);
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    use Expect::*;
    let (bad, missing, method, large, uri) = (
        StatusCode::BAD_REQUEST,
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::URI_TOO_LONG,
    );
    let cases = vec![
        // The Loymax member API.
        case(
            "loymax bad query",
            Method::GET,
            "/publicapi/v1.2/Notification?from=abc",
            (bad, Loymax),
        )
        .with_token(),
        case(
            "loymax unknown route",
            Method::GET,
            "/api/v1/NoSuchThing",
            (missing, Loymax),
        ),
        case("loymax wrong method", Method::DELETE, "/api/v1/User", (method, Loymax)).with_token(),
        case(
            "loymax NUL",
            Method::POST,
            "/publicapi/v1.2/Registration/BeginRegistration",
            (bad, Loymax),
        )
        .body(json, r#"{"login": "+7916\u0000"}"#),
        case(
            "loymax wrong content type",
            Method::POST,
            "/publicapi/v1.2/Registration/BeginRegistration",
            // A ValidationError: HTTP 200 with the 400 inside, as Loymax answers.
            (StatusCode::OK, Loymax),
        )
        .body("text/plain", r#"{"login": "+79160000000"}"#),
        case(
            "loymax long URI",
            Method::GET,
            format!("/api/v1/User?x={long}"),
            (uri, Loymax),
        )
        .with_token(),
        case(
            "loymax large body",
            Method::POST,
            "/publicapi/v1.2/Registration/BeginRegistration",
            (large, Loymax),
        )
        .body(json, vec![b' '; 2 * 1024 * 1024]),
        // The token endpoint speaks OAuth.
        case(
            "token JSON body",
            Method::POST,
            "/authorizationService/token",
            (bad, OAuth),
        )
        .body(json, r#"{"grant_type": "password"}"#),
        case(
            "token duplicate field",
            Method::POST,
            "/authorizationService/token",
            (bad, OAuth),
        )
        .body(form, "grant_type=password&grant_type=password&username=a&password=b"),
        case("token NUL", Method::POST, "/authorizationService/token", (bad, OAuth))
            .body(form, "grant_type=password&username=%00&password=b"),
        case(
            "token wrong method",
            Method::GET,
            "/authorizationService/token",
            (bad, OAuth),
        ),
        // Processing: unauthenticated tills get ASP.NET's 401.
        case(
            "processing no token",
            Method::POST,
            "/api/v1/Processing/Purchases/p/Calculate",
            (StatusCode::UNAUTHORIZED, AspNet),
        )
        .body(json, "{}"),
        // The tracker.
        case("tracker unknown link", Method::GET, "/t/nosuchlink", (missing, Tracker)),
        case(
            "tracker bad query",
            Method::GET,
            format!("/t/{slug}?a=%ff"),
            (bad, Tracker),
        ),
        case(
            "tracker NUL in link",
            Method::GET,
            format!("/t/{slug}?lead=%00"),
            (bad, Tracker),
        ),
        case("tracker wrong method", Method::PUT, postback.clone(), (method, Tracker)),
        case(
            "tracker NUL postback",
            Method::GET,
            format!("{postback}?tracker.event=sale&clickid=%00"),
            (bad, Tracker),
        ),
        case(
            "tracker large postback",
            Method::POST,
            postback.clone(),
            (large, Tracker),
        )
        .body(form, vec![b'a'; 20_000]),
        case(
            "tracker long URI",
            Method::GET,
            format!("/t/{slug}?x={long}"),
            (uri, Tracker),
        ),
        // The admin API.
        case(
            "admin bad query",
            Method::GET,
            "/admin/v1/members?count=abc",
            (bad, Admin),
        ),
        case("admin unknown route", Method::GET, "/admin/v1/nosuch", (missing, Admin)),
        case(
            "admin wrong method",
            Method::DELETE,
            "/admin/v1/members",
            (method, Admin),
        ),
        case("admin NUL", Method::POST, "/admin/v1/members", (bad, Admin)).body(json, r#"{"phone": "+7916\u0000"}"#),
        case("admin large body", Method::POST, "/admin/v1/members", (large, Admin))
            .body(json, vec![b' '; 2 * 1024 * 1024]),
        case(
            "admin long URI",
            Method::GET,
            format!("/admin/v1/members?x={long}"),
            (uri, Admin),
        ),
        case("unknown route", Method::GET, "/nothing/here", (missing, Admin)),
    ];
    let (_, before) = s.admin(Method::GET, "/admin/v1/members?count=100", None).await;
    for c in cases {
        let mut request = s.client.request(c.method.clone(), format!("{}{}", s.base, c.path));
        if c.path.starts_with("/admin/") {
            request = request.bearer_auth(&s.admin_key);
        } else if c.token {
            request = request.bearer_auth(&token);
        }
        if let Some(content_type) = c.content_type {
            request = request.header("content-type", content_type).body(c.body.clone());
        }
        let response = request.send().await.unwrap();
        let (status, expect) = c.expect;
        let got = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{}: {body}", c.name);
        assert_eq!(content_type.as_deref(), Some("application/json"), "{}", c.name);
        expect.check(c.name, &body);
    }
    // A chunked body over the limit is refused as too large, not as malformed.
    let chunked = raw(
        &s,
        "POST /publicapi/v1.2/Registration/BeginRegistration HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        &vec![b' '; 3 * 1024 * 1024],
    )
    .await;
    assert!(
        chunked.starts_with("HTTP/1.1 413"),
        "{}",
        &chunked[..chunked.len().min(300)]
    );
    Expect::Loymax.check("chunked", &super::body_of(&chunked));

    let (_, after) = s.admin(Method::GET, "/admin/v1/members?count=100", None).await;
    assert_eq!(before, after, "bad input changes nothing");
    // The tracker kept every refused postback, NUL shown as U+FFFD.
    let (_, log) = s
        .admin(Method::GET, "/admin/v1/tracker/postbacks?count=100", None)
        .await;
    let raws: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["raw"].as_str().unwrap())
        .collect();
    assert_eq!(raws.len(), 2, "{log}");
    assert!(raws.iter().any(|r| r.contains("clickid=%00")), "{raws:?}");
    let details: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["detail"].as_str().unwrap_or(""))
        .collect();
    assert!(
        details.iter().any(|d| d.contains("NUL")) && details.iter().any(|d| d.contains("larger")),
        "{details:?}"
    );
}
