//! A small headless-Chromium harness: the W3C WebDriver protocol over HTTP to Debian's
//! chromedriver. Tests that need a browser call `Browser::start()` and skip when it
//! returns `None` (no chromedriver or Chromium on this machine).

// Not every method has a caller yet; the harness is an API for the browser suites.
#![allow(dead_code)]

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key under which WebDriver wraps an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where browser tests write screenshots: `target/test-artifacts/browser` of the workspace.
pub fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root");
    workspace.join("target/test-artifacts/browser")
}

/// One headless Chromium, driven through its own chromedriver process.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:{port}/session/{id}`: the prefix of every command.
    session_url: String,
    port: u16,
    session: String,
    // Declared last so it drops (kills chromedriver) after `Drop for Browser` ended the session.
    _driver: Driver,
}

/// The chromedriver child, killed when dropped (also when `start` fails half-way).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// A fresh browser session, or `None` (with a line on stderr) when chromedriver or
    /// Chromium is not installed. Panics when they are installed but do not start.
    pub async fn start() -> Option<Browser> {
        let driver = binary("ACCRUE_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver")?;
        let chromium = binary("ACCRUE_CHROMIUM", "/usr/bin/chromium", "chromium")?;
        match Browser::launch(&driver, &chromium).await {
            Ok(browser) => Some(browser),
            Err(e) => panic!("cannot start {} with {}: {e}", driver.display(), chromium.display()),
        }
    }

    async fn launch(driver: &Path, chromium: &Path) -> Result<Browser, String> {
        let port = free_port()?;
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning chromedriver: {e}"))?;
        let mut driver = Driver(child);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let base = format!("http://127.0.0.1:{port}");
        wait_until_ready(&http, &base, &mut driver).await?;

        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1200,900",
        ];
        let options = json!({"binary": chromium, "args": args});
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}});
        let created = send(&http, Method::POST, &format!("{base}/session"), Some(capabilities)).await?;
        let session = created["sessionId"]
            .as_str()
            .ok_or(format!("no sessionId in {created}"))?
            .to_owned();
        Ok(Browser {
            http,
            session_url: format!("{base}/session/{session}"),
            port,
            session,
            _driver: driver,
        })
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.command(Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    pub async fn current_url(&self) -> Result<String, String> {
        string(self.command(Method::GET, "/url", None).await?)
    }

    /// The WebDriver id of the first element matching `css` in the current frame.
    pub async fn find(&self, css: &str) -> Result<String, String> {
        let found = self
            .command(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        found[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("no element reference in {found}"))
    }

    /// `find`, retried until `css` matches or `timeout` passes (pages load and script runs
    /// after navigation commands return).
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(css).await {
                Ok(id) => return Ok(id),
                Err(e) if Instant::now() >= deadline => return Err(format!("waited {timeout:?} for {css}: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn text(&self, css: &str) -> Result<String, String> {
        string(self.on_element(css, Method::GET, "text", None).await?)
    }

    /// The attribute's value, `None` when the element does not have it.
    pub async fn attribute(&self, css: &str, name: &str) -> Result<Option<String>, String> {
        let value = self
            .on_element(css, Method::GET, &format!("attribute/{name}"), None)
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    pub async fn click(&self, css: &str) -> Result<(), String> {
        self.on_element(css, Method::POST, "click", None).await.map(drop)
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        self.on_element(css, Method::POST, "value", Some(json!({"text": text})))
            .await
            .map(drop)
    }

    /// Runs `script` as a function body in the current frame (`arguments[i]` are `args`)
    /// and returns what it returns.
    pub async fn eval(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Makes the iframe matching `css` the frame later commands act in.
    pub async fn switch_to_frame(&self, css: &str) -> Result<(), String> {
        let frame = self.find(css).await?;
        self.command(Method::POST, "/frame", Some(json!({"id": {ELEMENT: frame}})))
            .await
            .map(drop)
    }

    pub async fn switch_to_parent(&self) -> Result<(), String> {
        self.command(Method::POST, "/frame/parent", None).await.map(drop)
    }

    /// Writes a PNG of the viewport to `path`, creating its directories.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        use base64::Engine;
        let encoded = string(self.command(Method::GET, "/screenshot", None).await?)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("screenshot: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.command(
            Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await
        .map(drop)
    }

    /// Finds `css`, then runs the element command `/element/{id}/{action}` on it.
    async fn on_element(&self, css: &str, method: Method, action: &str, body: Option<Value>) -> Result<Value, String> {
        let id = self.find(css).await?;
        self.command(method, &format!("/element/{id}/{action}"), body)
            .await
            .map_err(|e| format!("{css}: {e}"))
    }

    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        send(&self.http, method, &format!("{}{path}", self.session_url), body).await
    }
}

impl Drop for Browser {
    /// Drop cannot await, so the session is ended over a plain socket; that makes
    /// chromedriver close Chromium, which killing chromedriver alone would leave running.
    fn drop(&mut self) {
        let _ = delete_session(self.port, &self.session);
    }
}

/// The binary at `$env` or `default`, or `None` after saying why the test skips.
fn binary(env: &str, default: &str, what: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(env).unwrap_or_else(|| default.into()));
    if path.exists() {
        return Some(path);
    }
    eprintln!(
        "skipping browser test: {what} not found at {} (install Debian's chromium and chromium-driver, or set {env})",
        path.display()
    );
    None
}

/// A port nothing listens on now (the OS picks it; chromedriver binds it a moment later).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

async fn wait_until_ready(http: &reqwest::Client, base: &str, driver: &mut Driver) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = send(http, Method::GET, &format!("{base}/status"), None).await;
        if status.as_ref().is_ok_and(|s| s["ready"] == true) {
            return Ok(());
        }
        if let Ok(Some(exit)) = driver.0.try_wait() {
            return Err(format!("chromedriver exited at start: {exit}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("chromedriver not ready after 20 s: {status:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One WebDriver command: its `value`, or an error naming the command and WebDriver's
/// error message.
async fn send(http: &reqwest::Client, method: Method, url: &str, body: Option<Value>) -> Result<Value, String> {
    let what = format!("{method} {url}");
    let mut request = http.request(method.clone(), url);
    if method == Method::POST {
        // chromedriver rejects a POST without a JSON body.
        request = request.json(&body.unwrap_or_else(|| json!({})));
    }
    let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = response.status();
    let mut reply: Value = response
        .json()
        .await
        .map_err(|e| format!("{what}: {status}, unreadable reply: {e}"))?;
    let value = reply["value"].take();
    if status.is_success() {
        return Ok(value);
    }
    // chromedriver's message names the error; its first line drops the "(Session info: …)".
    let message = value["message"]
        .as_str()
        .or(value["error"].as_str())
        .unwrap_or("no error message");
    Err(format!(
        "{what}: {status}: {}",
        message.lines().next().unwrap_or_default()
    ))
}

fn string(value: Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("expected a string, got {value}"))
}

/// `DELETE /session/{id}` by hand, for `Drop`.
fn delete_session(port: u16, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The reply comes once Chromium has quit, so chromedriver may be killed after it; only
    // its start is awaited, as chromedriver keeps the socket open despite "Connection: close".
    stream.read(&mut [0; 64]).map(drop)
}

/// Serves `router` on a free port of 127.0.0.1 for the rest of the test; returns the port.
pub async fn serve(router: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

#[tokio::test]
async fn the_harness_drives_chromium_across_origins() {
    let Some(browser) = Browser::start().await else { return };
    // Two ports are two origins: the iframe is cross-origin to its page.
    let inner = Router::new()
        .route(
            "/inner",
            get(|| async { Html(r#"<p id="hello">inside</p><a id="go" href="/second">next</a>"#) }),
        )
        .route("/second", get(|| async { Html(r#"<h1 id="done">second</h1>"#) }));
    let b = serve(inner).await;
    let page = format!(r#"<title>outer</title><iframe id="f" src="http://127.0.0.1:{b}/inner"></iframe>"#);
    let a = serve(Router::new().route("/", get(move || async move { Html(page) }))).await;

    browser.goto(&format!("http://127.0.0.1:{a}/")).await.unwrap();
    assert_eq!(browser.eval("return document.title", &[]).await.unwrap(), "outer");
    browser.switch_to_frame("#f").await.unwrap();
    let wait = Duration::from_secs(10);
    browser.wait_for("#hello", wait).await.unwrap();
    assert_eq!(browser.text("#hello").await.unwrap(), "inside");
    assert_eq!(
        browser.attribute("#go", "href").await.unwrap().as_deref(),
        Some("/second")
    );
    browser.click("#go").await.unwrap();
    browser.wait_for("#done", wait).await.unwrap();
    assert_eq!(browser.text("#done").await.unwrap(), "second");
    browser.switch_to_parent().await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), format!("http://127.0.0.1:{a}/"));

    let shot = artifacts_dir().join("harness_across_origins.png");
    browser.screenshot(&shot).await.unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", shot.display());
}
