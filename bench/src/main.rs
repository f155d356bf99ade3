//! Closed-loop load generator for Accrue: each scenario runs a fixed number of
//! clients for a fixed time; every client sends its next request as soon as the
//! previous one is answered. Prints a Markdown table; `bench/run.sh` drives it.
//!
//! `webhooks` is the exception: its clients accrue like `accrue`, and what it
//! measures is how fast the server's delivery worker gets the resulting
//! `points.accrued` webhooks to a receiver inside this process.
//!
//! `loymax_registration` counts whole registrations (six HTTP exchanges each) as
//! its "requests"; `loymax_history` reads a member's history through the
//! Loymax-compatible member API with the member's own token.
//!
//! `click_redirect` follows a tracker short link (`/t/{slug}?lead=…`, answered 302
//! after the click is written); `postback_ingest` sends repeat-deposit postbacks,
//! each with a tid of its own, so every one is counted.

use anyhow::{bail, Context, Result};
use reqwest::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod batch;
mod cpu;
mod purchase;

const SCENARIOS: [&str; 11] = [
    "baseline",
    "accrue",
    "withdraw_hot",
    "history",
    "loymax_registration",
    "loymax_history",
    "click_redirect",
    "postback_ingest",
    "purchase",
    "hot_member_purchase",
    "webhooks",
];
/// Scenarios run only when named: they take minutes.
const ON_REQUEST: [&str; 1] = ["batch_file"];
const SEED_MEMBERS: usize = 1000;
const HISTORY_POSTINGS: usize = 200;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: accrue-bench --base URL --key KEY [--duration SECS] \
[--clients N] [--server-pid PID] [--scenario baseline|accrue|withdraw_hot|history|loymax_registration|loymax_history|click_redirect|postback_ingest|purchase|hot_member_purchase|webhooks|batch_file|all]";

struct Args {
    base: String,
    key: String,
    duration: Duration,
    clients: usize,
    scenario: String,
    /// The server's process on this machine, for the CPU note of each scenario.
    server_pid: Option<u32>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        base: String::new(),
        key: String::new(),
        duration: Duration::from_secs(10),
        clients: 16,
        scenario: "all".into(),
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--base" => args.base = value.trim_end_matches('/').to_string(),
            "--key" => args.key = value,
            "--duration" => args.duration = Duration::from_secs_f64(value.parse()?),
            "--clients" => args.clients = value.parse()?,
            "--scenario" => args.scenario = value,
            "--server-pid" => args.server_pid = Some(value.parse()?),
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    if args.base.is_empty() || args.key.is_empty() {
        bail!("--base and --key are required\n{USAGE}");
    }
    let known = SCENARIOS.contains(&args.scenario.as_str()) || ON_REQUEST.contains(&args.scenario.as_str());
    if args.scenario != "all" && !known {
        bail!("unknown scenario {:?}\n{USAGE}", args.scenario);
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    Ok(args)
}

/// The server, with a counter that makes every Idempotency-Key unique and one that
/// hands out phone numbers for new members.
#[derive(Clone)]
struct Api {
    http: Client,
    base: String,
    key: String,
    run_id: u128,
    seq: Arc<AtomicU64>,
    phones: Arc<AtomicU64>,
}

impl Api {
    fn new(args: &Args) -> Result<Api> {
        let http = Client::builder()
            .no_proxy()
            // The tracker's redirect is the answer measured, not the partner's page.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        // Phone numbers start at a block of 1000 chosen by the clock (in seconds), so
        // runs against the same server seconds apart or more use different numbers
        // (the blocks come round again after 10^4 s).
        let first_phone = (run_id / 1_000_000_000 % 10_000) as u64 * 1000;
        Ok(Api {
            http,
            base: args.base.clone(),
            key: args.key.clone(),
            run_id,
            seq: Arc::new(AtomicU64::new(0)),
            phones: Arc::new(AtomicU64::new(first_phone)),
        })
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A new valid Russian mobile number, digits only: `7916` and seven digits.
    fn next_phone(&self) -> String {
        let n = self.phones.fetch_add(1, Ordering::Relaxed) % 10_000_000;
        format!("7916{n:07}")
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key)
    }

    fn delete(&self, path: &str) -> RequestBuilder {
        self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.key)
    }

    fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
    }

    /// `kind` is `accrue` or `withdraw`; `n` comes from [`Api::next`].
    fn operation(&self, kind: &str, member: i64, amount: &str, n: u64) -> RequestBuilder {
        let body = json!({ "member_id": member, "amount": amount });
        self.post(&format!("/admin/v1/operations/{kind}"), &body)
            .header("Idempotency-Key", format!("bench-{}-{n}", self.run_id))
    }

    /// For setup: the request must succeed; returns its JSON body (null when empty).
    async fn expect_ok(request: RequestBuilder) -> Result<Value> {
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("setup request failed: {status}: {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn create_member(&self) -> Result<i64> {
        let body = Self::expect_ok(self.post("/admin/v1/members", &json!({}))).await?;
        body["id"].as_i64().context("member without an id")
    }

    async fn accrue(&self, member: i64, amount: &str) -> Result<Value> {
        Self::expect_ok(self.operation("accrue", member, amount, self.next())).await
    }
}

/// What each request of a scenario looks like.
enum Load {
    Get(String),
    Operation {
        kind: &'static str,
        members: Vec<i64>,
        amount: &'static str,
    },
    /// A GET of the Loymax member API with a member's token: an error unless it
    /// answers 200 with `result.state` "Success".
    MemberGet {
        path: String,
        token: String,
    },
    /// One whole registration by phone per "request".
    Registration(loymax::StepTimes),
    /// A tracker short link visited by a new lead each time: an error unless 302.
    Redirect(String),
    /// A repeat-deposit postback with a new tid, on clicks taken round-robin: an
    /// error unless counted (`"status": "recorded"`).
    Postback {
        url: String,
        clicks: Vec<String>,
    },
    /// One whole purchase (four processing calls) per "request".
    Purchase(purchase::Purchases),
    /// Purchases while the server posts a large batch file.
    BatchFile(batch::BatchRun),
}

impl Load {
    /// One request (or flow); `Some(kind)` when it failed.
    async fn run_once(&self, api: &Api) -> Option<String> {
        let request = match self {
            Load::Get(path) => api.get(path),
            Load::Operation { kind, members, amount } => {
                let n = api.next();
                let member = members[n as usize % members.len()];
                api.operation(kind, member, amount, n)
            }
            Load::MemberGet { path, token } => {
                return loymax::read(api.http.get(format!("{}{path}", api.base)).bearer_auth(token)).await;
            }
            Load::Registration(times) => {
                return loymax::register(api, &api.next_phone(), Some(times)).await.err();
            }
            Load::Purchase(purchases) => return purchases.run_once(api).await,
            Load::BatchFile(run) => return run.purchases.run_once(api).await,
            Load::Redirect(path) => {
                let url = format!("{}{path}{}-{}", api.base, api.run_id, api.next());
                return tracker::expect_redirect(api.http.get(url)).await;
            }
            Load::Postback { url, clicks } => {
                let n = api.next();
                let click = &clicks[n as usize % clicks.len()];
                let url = format!("{url}&clickid={click}&tracker.tid={}-{n}", api.run_id);
                return tracker::expect_recorded(api.http.get(url)).await;
            }
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.err().map(transport_error),
            Ok(r) => Some(describe_failure(r).await),
            Err(e) => Some(transport_error(e)),
        }
    }

    /// Printed after the table, from what the clients measured.
    fn notes(&self) -> Vec<String> {
        match self {
            Load::Registration(times) => times.notes(),
            Load::Purchase(purchases) => purchases.notes(),
            Load::BatchFile(run) => run.notes(),
            _ => Vec::new(),
        }
    }
}

/// Creates the data a scenario needs and says what its requests are; the notes
/// (setup's observations) go below the table.
async fn setup(scenario: &str, api: &Api, clients: usize, notes: &mut Vec<String>) -> Result<Load> {
    Ok(match scenario {
        "baseline" => Load::Get("/healthz".into()),
        "accrue" => Load::Operation {
            kind: "accrue",
            members: create_members(api, SEED_MEMBERS, clients).await?,
            amount: "10.00",
        },
        "withdraw_hot" => {
            let member = api.create_member().await?;
            api.accrue(member, "100000000.00").await?;
            Load::Operation {
                kind: "withdraw",
                members: vec![member],
                amount: "0.01",
            }
        }
        "history" => {
            let member = api.create_member().await?;
            for _ in 0..HISTORY_POSTINGS {
                api.accrue(member, "1.00").await?;
            }
            Load::Get(format!("/admin/v1/members/{member}/history?count=20"))
        }
        "loymax_registration" => {
            notes.extend(loymax::check_registration(api).await?);
            Load::Registration(loymax::StepTimes::default())
        }
        "loymax_history" => {
            let (token, note) = loymax::history_member(api).await?;
            notes.extend(note);
            Load::MemberGet {
                path: loymax::HISTORY_PATH.into(),
                token,
            }
        }
        "click_redirect" => Load::Redirect(tracker::redirect_path(api).await?),
        "postback_ingest" => tracker::postback_load(api, SEED_MEMBERS).await?,
        "purchase" => Load::Purchase(purchase::setup(api, 1, 200).await?),
        "hot_member_purchase" => Load::Purchase(purchase::setup(api, 2, 1).await?),
        "batch_file" => Load::BatchFile(batch::setup(api).await?),
        other => bail!("unknown scenario {other:?}"),
    })
}

/// The affiliate tracker: a short link to follow, postbacks to count.
mod tracker {
    use super::*;

    /// An integration (no rate limit to speak of) and a registration link of it.
    async fn link(api: &Api) -> Result<(String, Value)> {
        let body = json!({"name": "bench", "click_param": "sub1", "rate_limit_per_minute": 1_000_000});
        let integration = Api::expect_ok(api.post("/admin/v1/tracker/integrations", &body)).await?;
        let uid = integration["id"]
            .as_str()
            .context("integration without an id")?
            .to_string();
        let body = json!({"integration": uid, "name": "bench", "base_url": "https://partner.example/reg?code=B"});
        let link = Api::expect_ok(api.post("/admin/v1/tracker/links", &body)).await?;
        Ok((uid, link))
    }

    /// `/t/{slug}?lead=` (the client appends a new lead id).
    pub async fn redirect_path(api: &Api) -> Result<String> {
        let (_, link) = link(api).await?;
        let slug = link["slug"].as_str().context("link without a slug")?;
        Ok(format!("/t/{slug}?sub1=bench&lead="))
    }

    /// `clicks` clicks issued by the admin API, and the postback URL without click and tid.
    pub async fn postback_load(api: &Api, clicks: usize) -> Result<Load> {
        let (uid, link) = link(api).await?;
        let id = link["id"].as_i64().context("link without an id")?;
        let mut issued = Vec::with_capacity(clicks);
        for n in 0..clicks {
            let body = json!({"lead": format!("bench-{}-{n}", api.run_id)});
            let rendered = Api::expect_ok(api.post(&format!("/admin/v1/tracker/links/{id}/render"), &body)).await?;
            issued.push(rendered["click_id"].as_str().context("no click id")?.to_string());
        }
        let url = format!(
            "{}/api/postbacks/{uid}/tracker-postback?tracker.event=resale&tracker.cost=10.50&tracker.currency=usd",
            api.base
        );
        Ok(Load::Postback { url, clicks: issued })
    }

    pub async fn expect_redirect(request: RequestBuilder) -> Option<String> {
        match request.send().await {
            Ok(r) if r.status() == reqwest::StatusCode::FOUND => r.bytes().await.err().map(transport_error),
            Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Some(transport_error(e)),
        }
    }

    pub async fn expect_recorded(request: RequestBuilder) -> Option<String> {
        match request.send().await {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(body) if body["status"] == "recorded" => None,
                Ok(body) => Some(format!("postback {}", body["status"])),
                Err(e) => Some(transport_error(e)),
            },
            Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Some(transport_error(e)),
        }
    }
}

/// `count` members, created by `workers` concurrent tasks.
async fn create_members(api: &Api, count: usize, workers: usize) -> Result<Vec<i64>> {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let api = api.clone();
        let share = count / workers + usize::from(w < count % workers);
        tasks.spawn(async move {
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                ids.push(api.create_member().await?);
            }
            anyhow::Ok(ids)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        ids.extend(done??);
    }
    Ok(ids)
}

/// What one client saw: the latency of every request (failed ones too), its errors by
/// kind, and how many requests ended in each tenth of the run.
#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    by_tenth: [u64; 10],
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        for (mine, theirs) in self.by_tenth.iter_mut().zip(other.by_tenth) {
            *mine += theirs;
        }
    }
}

/// One closed-loop client: sends requests from `start` for `duration`.
async fn client(api: Api, load: Arc<Load>, start: Instant, duration: Duration) -> Outcome {
    let mut out = Outcome::default();
    let deadline = start + duration;
    while Instant::now() < deadline {
        let sent = Instant::now();
        let error = load.run_once(&api).await;
        let micros = sent.elapsed().as_micros();
        out.latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
        let tenth = (start.elapsed().as_secs_f64() * 10.0 / duration.as_secs_f64()) as usize;
        out.by_tenth[tenth.min(9)] += 1;
        if let Some(kind) = error {
            *out.errors.entry(kind).or_default() += 1;
        }
    }
    out
}

/// The error with its causes: `transport: error sending request …: connection refused`.
fn transport_error(e: reqwest::Error) -> String {
    let mut text = format!("transport: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// `HTTP 422 insufficient_balance`: the status and the API's error code.
async fn describe_failure(response: reqwest::Response) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    match body["error"]["code"].as_str() {
        Some(code) => format!("HTTP {} {code}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

struct Report {
    scenario: String,
    clients: usize,
    elapsed: Duration,
    outcome: Outcome,
    /// Printed after the table.
    notes: Vec<String>,
}

impl Report {
    fn requests(&self) -> usize {
        self.outcome.latencies_us.len()
    }

    fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    fn errors(&self) -> u64 {
        self.outcome.errors.values().sum()
    }

    /// Nearest-rank percentile in milliseconds; latencies must be sorted.
    fn percentile_ms(&self, p: f64) -> f64 {
        let sorted = &self.outcome.latencies_us;
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
        f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
    }
}

async fn run_scenario(scenario: &str, api: &Api, args: &Args) -> Result<Report> {
    eprintln!("[{scenario}] setup");
    let setup_start = Instant::now();
    let mut notes = Vec::new();
    let load = Arc::new(
        setup(scenario, api, args.clients, &mut notes)
            .await
            .with_context(|| format!("setting up {scenario}"))?,
    );
    eprintln!(
        "[{scenario}] setup took {:.1?}; {} clients for {:?}",
        setup_start.elapsed(),
        args.clients,
        args.duration
    );
    let cpu_before = args.server_pid.and_then(cpu::Sample::now);
    let start = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|_| tokio::spawn(client(api.clone(), load.clone(), start, args.duration)))
        .collect();
    let mut outcome = Outcome::default();
    for c in clients {
        outcome.merge(c.await?);
    }
    let elapsed = start.elapsed();
    let cpu_after = args.server_pid.and_then(cpu::Sample::now);
    outcome.latencies_us.sort_unstable();
    notes.extend(load.notes());
    notes.push(over_the_run(&outcome.by_tenth, args.duration));
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        notes.push(before.note(&after, outcome.latencies_us.len(), elapsed));
    }
    Ok(Report {
        scenario: scenario.into(),
        clients: args.clients,
        elapsed,
        outcome,
        notes,
    })
}

/// The rate in each tenth of the run, to show whether it holds or falls as data grows.
fn over_the_run(by_tenth: &[u64; 10], duration: Duration) -> String {
    let tenth = duration.as_secs_f64() / 10.0;
    let rates: Vec<String> = by_tenth.iter().map(|&n| format!("{:.0}", n as f64 / tenth)).collect();
    format!("req/s by tenth of the run: {}", rates.join(", "))
}

fn print_table(reports: &[Report]) {
    let baseline = reports[0].rate();
    println!("| scenario | clients | requests | req/s | p50 ms | p99 ms | errors | vs baseline |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.3} |",
            r.scenario,
            r.clients,
            r.requests(),
            r.rate(),
            r.percentile_ms(50.0),
            r.percentile_ms(99.0),
            r.errors(),
            r.rate() / baseline,
        );
    }
    let errors: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            let errors = &r.outcome.errors;
            errors.iter().map(|(kind, n)| format!("- {}: {n} × {kind}", r.scenario))
        })
        .collect();
    if !errors.is_empty() {
        println!("\nErrors:\n{}", errors.join("\n"));
    }
    let notes: Vec<String> = reports
        .iter()
        .flat_map(|r| r.notes.iter().map(|note| format!("- {}: {note}", r.scenario)))
        .collect();
    if !notes.is_empty() {
        println!("\nNotes:\n{}", notes.join("\n"));
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accrue-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    let api = Api::new(&args)?;
    let chosen: Vec<&str> = match args.scenario.as_str() {
        "all" => SCENARIOS.to_vec(),
        "baseline" => vec!["baseline"],
        one => vec!["baseline", one],
    };
    let mut reports = Vec::new();
    for scenario in chosen {
        let report = match scenario {
            "webhooks" => webhooks::run(&api, &args).await.context("webhooks")?,
            _ => run_scenario(scenario, &api, &args).await?,
        };
        reports.push(report);
    }
    print_table(&reports);
    Ok(())
}

/// The Loymax-compatible member API: the registration flow by phone, and reading a
/// member's history with the member's own token.
mod loymax {
    use super::*;
    use reqwest::StatusCode;

    /// `loymax_history`'s request: 20 of the member's operations, newest first.
    pub const HISTORY_PATH: &str = "/publicapi/v1.2/History?filter.toDate=2100-01-01&filter.count=20";
    const HISTORY_ROWS: usize = 20;
    const PASSWORD: &str = "111111";

    /// The steps of a registration, in order, as errors and notes name them.
    const STEPS: [&str; 6] = [
        "BeginRegistration",
        "AcceptTenderOffer",
        "SMS code from the outbox",
        "PhoneNumber/Confirm",
        "Password/Set",
        "TryFinishRegistration",
    ];
    const PASSWORD_STEP: usize = 4;

    /// Time spent in each step, summed over the successful registrations.
    #[derive(Default)]
    pub struct StepTimes {
        flows: AtomicU64,
        micros: [AtomicU64; STEPS.len()],
    }

    impl StepTimes {
        fn add(&self, flow: &Flow) {
            self.flows.fetch_add(1, Ordering::Relaxed);
            for (sum, took) in self.micros.iter().zip(flow.took) {
                sum.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
            }
        }

        pub fn notes(&self) -> Vec<String> {
            let flows = self.flows.load(Ordering::Relaxed);
            if flows == 0 {
                return Vec::new();
            }
            let micros: Vec<u64> = self.micros.iter().map(|m| m.load(Ordering::Relaxed)).collect();
            vec![format!(
                "one row = one registration of 6 HTTP exchanges; mean per step over {flows} completed: {}",
                breakdown(&micros, flows)
            )]
        }
    }

    /// `BeginRegistration 2.3 ms, … (sum 35.7 ms; Password/Set 77 % of it)`: means per flow.
    fn breakdown(micros: &[u64], flows: u64) -> String {
        let total: u64 = micros.iter().sum();
        let steps: Vec<String> = STEPS
            .iter()
            .zip(micros)
            .map(|(name, us)| format!("{name} {:.1} ms", *us as f64 / flows as f64 / 1000.0))
            .collect();
        format!(
            "{} (sum {:.1} ms; Password/Set {:.0} % of it)",
            steps.join(", "),
            total as f64 / flows as f64 / 1000.0,
            100.0 * micros[PASSWORD_STEP] as f64 / total.max(1) as f64
        )
    }

    /// A finished registration: the tokens it was given in turn (the last one is
    /// current) and how long each step took.
    struct Flow {
        tokens: Vec<String>,
        took: [Duration; STEPS.len()],
    }

    /// `HTTP 200 Error: Шаг регистрации уже выполнен.`: the status, `result.state` and
    /// message (a `Fail`'s message is a fresh error id each time, so it is left out).
    fn describe(status: StatusCode, body: &Value) -> String {
        let status = status.as_u16();
        let result = &body["result"];
        let Some(state) = result["state"].as_str() else {
            return match body["message"].as_str() {
                Some(message) => format!("HTTP {status} {message}"),
                None => format!("HTTP {status}"),
            };
        };
        let mut text = format!("HTTP {status} {state}");
        if let (false, Some(message)) = (state == "Fail", result["message"].as_str()) {
            text.push_str(&format!(": {message}"));
        }
        if let Some(errors) = result["validationErrors"].as_array() {
            let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
            text.push_str(&format!(" ({})", fields.join(", ")));
        }
        text
    }

    /// `result.state` of an envelope, read from its end: `result` is the last key (the
    /// server writes compact JSON), so a read need not parse the 20 rows before it.
    fn result_state(bytes: &[u8]) -> Option<String> {
        const KEY: &[u8] = b"\"result\":";
        let at = bytes.windows(KEY.len()).rposition(|w| w == KEY)?;
        let mut values = serde_json::Deserializer::from_slice(&bytes[at + KEY.len()..]).into_iter::<Value>();
        values.next()?.ok()?["state"].as_str().map(str::to_string)
    }

    /// A read with a member token: an error unless 200 with `result.state` "Success".
    pub async fn read(request: RequestBuilder) -> Option<String> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Some(transport_error(e)),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Some(transport_error(e)),
        };
        if status == StatusCode::OK && result_state(&bytes).as_deref() == Some("Success") {
            return None;
        }
        Some(describe(status, &serde_json::from_slice(&bytes).unwrap_or_default()))
    }

    /// One step: the answer's body when it is 200 with `result.state` "Success",
    /// otherwise what went wrong, prefixed with the step's name.
    async fn call(step: usize, request: RequestBuilder) -> Result<Value, String> {
        let fail = |what: String| format!("{}: {what}", STEPS[step]);
        let response = request.send().await.map_err(|e| fail(transport_error(e)))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| fail(transport_error(e)))?;
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        if status == StatusCode::OK && body["result"]["state"] == "Success" {
            Ok(body)
        } else {
            Err(fail(describe(status, &body)))
        }
    }

    /// `data.authToken` of a step's answer.
    fn token(step: usize, body: &Value) -> Result<String, String> {
        body["data"]["authToken"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{}: answer without data.authToken", STEPS[step]))
    }

    fn member_post(api: &Api, path: &str, token: Option<&str>, body: &Value) -> RequestBuilder {
        let request = api.http.post(format!("{}{path}", api.base)).json(body);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The code of the newest SMS to `phone` (digits), revealed from the log channel's
    /// outbox (the message keeps the code sealed): two admin calls.
    async fn sms_code(api: &Api, phone: &str) -> Result<String, String> {
        let fail = |what: String| format!("{}: {what}", STEPS[2]);
        let get = |path: String| async move {
            let response = api.get(&path).send().await.map_err(|e| fail(transport_error(e)))?;
            if !response.status().is_success() {
                return Err(fail(describe_failure(response).await));
            }
            response.json::<Value>().await.map_err(|e| fail(transport_error(e)))
        };
        let list = get(format!("/admin/v1/outbox/messages?kind=sms&target={phone}&count=1")).await?;
        let id = list["items"][0]["id"]
            .as_str()
            .ok_or_else(|| fail("no SMS for the phone".into()))?;
        let message = get(format!("/admin/v1/outbox/messages/{id}?reveal=true")).await?;
        let text = message["payload"]["text"]
            .as_str()
            .ok_or_else(|| fail("no text in the SMS".into()))?;
        let code: String = text.chars().filter(char::is_ascii_digit).collect();
        if code.is_empty() {
            return Err(fail(format!("no code in {text:?}")));
        }
        Ok(code)
    }

    /// Registers a new member by phone end to end, as a mobile app does. The error
    /// names the step that failed.
    pub async fn register(api: &Api, phone: &str, times: Option<&StepTimes>) -> Result<(), String> {
        let flow = flow(api, phone).await?;
        if let Some(times) = times {
            times.add(&flow);
        }
        Ok(())
    }

    async fn flow(api: &Api, phone: &str) -> Result<Flow, String> {
        let mut took = [Duration::ZERO; STEPS.len()];
        let mut tokens = Vec::with_capacity(4);
        let mut at = Instant::now();
        let mut lap = |step: usize| {
            let now = Instant::now();
            took[step] = now - at;
            at = now;
        };

        let begin = json!({"login": phone, "password": ""});
        let body = call(
            0,
            member_post(api, "/api/v1/Registration/BeginRegistration", None, &begin),
        )
        .await?;
        if body["data"]["state"] != "Success" {
            return Err(format!("{}: data.state {}", STEPS[0], body["data"]["state"]));
        }
        tokens.push(token(0, &body)?);
        lap(0);

        let offer = member_post(api, "/api/v1/User/AcceptTenderOffer", Some(&tokens[0]), &json!({}));
        call(1, offer).await?;
        lap(1);

        let code = sms_code(api, phone).await?;
        lap(2);

        let confirm = json!({"confirmCode": code});
        let request = member_post(api, "/api/v1/User/PhoneNumber/Confirm", Some(&tokens[0]), &confirm);
        tokens.push(token(3, &call(3, request).await?)?);
        lap(3);

        let password = json!({"password": PASSWORD});
        let request = member_post(api, "/api/v1/User/Password/Set", Some(&tokens[1]), &password);
        tokens.push(token(4, &call(4, request).await?)?);
        lap(4);

        let request = member_post(
            api,
            "/api/v1/Registration/TryFinishRegistration",
            Some(&tokens[2]),
            &json!({}),
        );
        let body = call(5, request).await?;
        if body["data"]["registrationCompleted"] != true {
            let completed = &body["data"]["registrationCompleted"];
            return Err(format!("{}: data.registrationCompleted {completed}", STEPS[5]));
        }
        if let Ok(last) = token(5, &body) {
            tokens.push(last);
        }
        lap(5);
        Ok(Flow { tokens, took })
    }

    /// `loymax_registration`'s setup: one registration alone, end to end, then what a
    /// client would expect of its tokens and password. A flow that fails stops the
    /// run; a token or password that behaves unexpectedly becomes a note.
    pub async fn check_registration(api: &Api) -> Result<Vec<String>> {
        let phone = api.next_phone();
        let started = Instant::now();
        let flow = flow(api, &phone)
            .await
            .map_err(|e| anyhow::anyhow!("registering {phone}: {e}"))?;
        let alone = started.elapsed();
        let micros: Vec<u64> = flow.took.iter().map(|d| d.as_micros() as u64).collect();
        let mut notes = vec![format!(
            "setup's registration alone took {:.1} ms: {}",
            alone.as_secs_f64() * 1000.0,
            breakdown(&micros, 1)
        )];

        let balance = |token: &str| {
            let url = format!("{}/publicapi/v1.2/User/Balance", api.base);
            api.http.get(url).bearer_auth(token.to_string())
        };
        let (current, old) = flow.tokens.split_last().context("no tokens")?;
        for (i, token) in old.iter().enumerate() {
            let status = balance(token).send().await?.status();
            if status != StatusCode::UNAUTHORIZED {
                notes.push(format!(
                    "server: the token replaced by {} still answers HTTP {} (expected 401)",
                    ["PhoneNumber/Confirm", "Password/Set", "TryFinishRegistration"][i.min(2)],
                    status.as_u16()
                ));
            }
        }
        if let Some(problem) = read(balance(current)).await {
            notes.push(format!("server: User/Balance with the last token: {problem}"));
        }
        let form = [
            ("grant_type", "password"),
            ("username", phone.as_str()),
            ("password", PASSWORD),
        ];
        let url = format!("{}/authorizationService/token", api.base);
        let signed_in = api.http.post(url).form(&form).send().await?;
        if !signed_in.status().is_success() {
            let status = signed_in.status();
            let body = signed_in.text().await.unwrap_or_default();
            notes.push(format!(
                "server: signing in with the new password: HTTP {status} {body}"
            ));
        }
        Ok(notes)
    }

    /// `loymax_history`'s setup: a member (admin API) with a password and
    /// `HISTORY_POSTINGS` accruals; returns an access token from the token endpoint,
    /// and a note when the first read does not look as expected.
    pub async fn history_member(api: &Api) -> Result<(String, Option<String>)> {
        let phone = api.next_phone();
        let created = Api::expect_ok(api.post("/admin/v1/members", &json!({ "phone": format!("+{phone}") }))).await?;
        let member = created["id"].as_i64().context("member without an id")?;
        let path = format!("/admin/v1/members/{member}/password");
        Api::expect_ok(api.post(&path, &json!({ "password": PASSWORD }))).await?;
        for _ in 0..HISTORY_POSTINGS {
            api.accrue(member, "1.00").await?;
        }
        let form = [
            ("grant_type", "password"),
            ("username", phone.as_str()),
            ("password", PASSWORD),
        ];
        let url = format!("{}/authorizationService/token", api.base);
        let tokens = Api::expect_ok(api.http.post(url).form(&form)).await?;
        let token = tokens["access_token"]
            .as_str()
            .context("token answer without access_token")?
            .to_string();

        let response = api
            .http
            .get(format!("{}{HISTORY_PATH}", api.base))
            .bearer_auth(&token)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if status != StatusCode::OK || body["result"]["state"] != "Success" {
            bail!("the first History read failed: {}", describe(status, &body));
        }
        let rows = body["data"]["rows"].as_array().map_or(0, Vec::len);
        let all = &body["data"]["allCount"];
        let note = (rows != HISTORY_ROWS || all != HISTORY_POSTINGS).then(|| {
            format!(
                "server: History answered {rows} rows, allCount {all} (expected {HISTORY_ROWS}, {HISTORY_POSTINGS})"
            )
        });
        Ok((token, note))
    }
}

/// The `webhooks` scenario: event webhooks delivered per second to a local receiver.
///
/// Setup starts an HTTP receiver in this process, subscribes it to `points.accrued`,
/// creates members and checks with one accrual that webhooks get through. Then
/// `clients` clients accrue for `duration`, as in `accrue`, noting the `posting_id`
/// of every answer; the scenario then waits (at most 4 × duration + 60 s) until the
/// receiver has every accrual's webhook. The row counts webhooks, not accruals:
/// `requests` is the webhooks received, `req/s` divides them by the time from the
/// first accrual to the last webhook, the percentiles are the time from an
/// accrual's answer to its webhook's arrival, and `errors` are failed accruals plus
/// webhooks that never came.
mod webhooks {
    use super::*;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::serve::ListenerExt;
    use std::collections::hash_map::Entry;

    const AMOUNT: &str = "1.00";
    /// For the first webhook; the delivery worker polls every 500 ms when idle.
    const WARM_UP_WAIT: Duration = Duration::from_secs(10);
    const POLL: Duration = Duration::from_millis(5);

    /// What the receiver saw.
    #[derive(Default)]
    struct Inbox {
        /// The first arrival of each posting's webhook.
        arrivals: Mutex<HashMap<i64, Instant>>,
        /// Webhooks of a posting that had arrived already.
        duplicates: AtomicU64,
        /// POSTs without a `data.posting_id`.
        foreign: AtomicU64,
    }

    impl Inbox {
        fn arrivals(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Instant>> {
            self.arrivals.lock().expect("inbox lock")
        }

        fn clear(&self) {
            self.arrivals().clear();
            self.duplicates.store(0, Ordering::Relaxed);
            self.foreign.store(0, Ordering::Relaxed);
        }
    }

    /// Answers 200 to every webhook and notes when it came.
    async fn receive(State(inbox): State<Arc<Inbox>>, body: Bytes) -> StatusCode {
        let now = Instant::now();
        let posting = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|event| event["data"]["posting_id"].as_i64());
        match posting {
            Some(id) => match inbox.arrivals().entry(id) {
                Entry::Vacant(slot) => {
                    slot.insert(now);
                }
                Entry::Occupied(_) => {
                    inbox.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => {
                inbox.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
        StatusCode::OK
    }

    /// Serves `POST /hooks` on a free port of 127.0.0.1 (HTTP/1.1, keep-alive);
    /// returns its URL.
    async fn start_receiver(inbox: Arc<Inbox>) -> Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(inbox);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("[webhooks] the receiver stopped: {e}");
            }
        });
        Ok(format!("http://{address}/hooks"))
    }

    /// What one accruing client saw: the posting and answer time of every
    /// successful accrual, and its errors by kind.
    #[derive(Default)]
    struct Accruals {
        answered: Vec<(i64, Instant)>,
        errors: BTreeMap<String, u64>,
    }

    /// One closed-loop client accruing until the deadline.
    async fn accrue_client(api: Api, members: Arc<Vec<i64>>, deadline: Instant) -> Accruals {
        let mut out = Accruals::default();
        while Instant::now() < deadline {
            let n = api.next();
            let member = members[n as usize % members.len()];
            let error = match api.operation("accrue", member, AMOUNT, n).send().await {
                Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                    Ok(body) => match body["posting_id"].as_i64() {
                        Some(posting) => {
                            out.answered.push((posting, Instant::now()));
                            None
                        }
                        None => Some("answer without a posting_id".to_string()),
                    },
                    Err(e) => Some(transport_error(e)),
                },
                Ok(r) => Some(describe_failure(r).await),
                Err(e) => Some(transport_error(e)),
            };
            if let Some(kind) = error {
                *out.errors.entry(format!("accrual: {kind}")).or_default() += 1;
            }
        }
        out
    }

    /// The newest outbox message, in words, to explain a webhook that did not come.
    async fn newest_message(api: &Api) -> String {
        let answer = Api::expect_ok(api.get("/admin/v1/outbox/messages?count=1")).await;
        match answer {
            Ok(body) => match body["items"].get(0) {
                Some(m) => format!(
                    "newest outbox message: state {}, {} attempt(s), last error {}",
                    m["state"], m["attempts"], m["last_error"]
                ),
                None => "the outbox is empty".into(),
            },
            Err(e) => format!("reading the outbox failed: {e:#}"),
        }
    }

    pub async fn run(api: &Api, args: &Args) -> Result<Report> {
        eprintln!("[webhooks] setup");
        let setup_start = Instant::now();
        let inbox = Arc::new(Inbox::default());
        let url = start_receiver(inbox.clone()).await?;
        let subscribe = json!({
            "url": url,
            "description": "accrue-bench receiver",
            "event_types": ["points.accrued"],
        });
        let endpoint = Api::expect_ok(api.post("/admin/v1/webhook-endpoints", &subscribe))
            .await
            .context("subscribing the receiver (the server needs --outbound-allow 127.0.0.1)")?;
        let endpoint_id = endpoint["id"].as_i64().context("endpoint without an id")?;
        let result = measure(api, args, &inbox, setup_start).await;
        // Unsubscribed, the endpoint's pending messages fail instead of retrying for
        // days, and later accruals on this server queue no webhooks.
        let path = format!("/admin/v1/webhook-endpoints/{endpoint_id}");
        match api.delete(&path).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!("[webhooks] unsubscribing the receiver: HTTP {}", r.status()),
            Err(e) => eprintln!("[webhooks] unsubscribing the receiver: {}", transport_error(e)),
        }
        result
    }

    async fn measure(api: &Api, args: &Args, inbox: &Inbox, setup_start: Instant) -> Result<Report> {
        let members = Arc::new(create_members(api, SEED_MEMBERS, args.clients).await?);
        // One webhook end to end before the clock starts: fails fast when the server
        // refuses to deliver, and opens the worker's first connection.
        let first = api.accrue(members[0], AMOUNT).await?;
        let posting = first["posting_id"].as_i64().context("accrual without a posting_id")?;
        let asked = Instant::now();
        while !inbox.arrivals().contains_key(&posting) {
            if asked.elapsed() > WARM_UP_WAIT {
                bail!(
                    "no webhook arrived within {WARM_UP_WAIT:?} of an accrual; {}",
                    newest_message(api).await
                );
            }
            tokio::time::sleep(POLL).await;
        }
        let warm_up = asked.elapsed();
        inbox.clear();
        eprintln!(
            "[webhooks] setup took {:.1?} (first webhook {:.1?} after its accrual); {} clients accrue for {:?}",
            setup_start.elapsed(),
            warm_up,
            args.clients,
            args.duration
        );

        let start = Instant::now();
        let deadline = start + args.duration;
        let clients: Vec<_> = (0..args.clients)
            .map(|_| tokio::spawn(accrue_client(api.clone(), members.clone(), deadline)))
            .collect();
        let mut accruals = Accruals::default();
        for c in clients {
            let done = c.await?;
            accruals.answered.extend(done.answered);
            for (kind, n) in done.errors {
                *accruals.errors.entry(kind).or_default() += n;
            }
        }
        let accrued_at = Instant::now();
        let accrual_time = accrued_at - start;
        let expected = accruals.answered.len();
        let wait_limit = args.duration * 4 + Duration::from_secs(60);
        eprintln!(
            "[webhooks] {expected} accruals in {accrual_time:.1?}; {} webhooks so far, waiting for the rest (at most {wait_limit:?})",
            inbox.arrivals().len()
        );
        while inbox.arrivals().len() < expected && accrued_at.elapsed() < wait_limit {
            tokio::time::sleep(POLL).await;
        }
        let waited = accrued_at.elapsed();

        let arrivals = std::mem::take(&mut *inbox.arrivals());
        let mut outcome = Outcome {
            latencies_us: Vec::with_capacity(expected),
            errors: accruals.errors,
            ..Outcome::default()
        };
        let (mut missing, mut early, mut meanwhile) = (0_u64, 0_u64, 0_u64);
        let (mut first, mut last) = (None::<Instant>, None);
        for (posting, answered_at) in &accruals.answered {
            let Some(&at) = arrivals.get(posting) else {
                missing += 1;
                continue;
            };
            // The webhook can beat the answer: the message is committed with the posting.
            early += u64::from(at < *answered_at);
            meanwhile += u64::from(at <= accrued_at);
            let micros = at.saturating_duration_since(*answered_at).as_micros();
            outcome.latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
            first = Some(first.map_or(at, |f| f.min(at)));
            last = last.max(Some(at));
        }
        outcome.latencies_us.sort_unstable();
        let delivered = outcome.latencies_us.len() as u64;
        if missing > 0 {
            let kind = format!("webhook: not received {waited:.0?} after the last accrual");
            outcome.errors.insert(kind, missing);
        }
        let elapsed = last.map_or(accrual_time + waited, |last| last - start);

        let per_second = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        let mut notes = vec![format!(
            "{expected} accruals in {:.1} s ({:.0}/s); {meanwhile} webhooks arrived meanwhile ({:.0}/s)",
            accrual_time.as_secs_f64(),
            per_second(expected as u64, accrual_time),
            per_second(meanwhile, accrual_time),
        )];
        if let Some(first) = first {
            // The worker sleeps 500 ms when it finds nothing due, so the first
            // webhooks may wait for it to wake up.
            notes.push(format!(
                "the first webhook arrived {:.0} ms after the first accrual was sent",
                (first - start).as_secs_f64() * 1000.0
            ));
        }
        if let Some(last) = last {
            let drain = last.saturating_duration_since(accrued_at);
            notes.push(format!(
                "the other {} arrived in the {:.2} s after the last accrual ({:.0}/s)",
                delivered - meanwhile,
                drain.as_secs_f64(),
                per_second(delivered - meanwhile, drain),
            ));
        }
        if early > 0 {
            notes.push(format!(
                "{early} webhooks arrived before their accrual's answer (latency counted as 0)"
            ));
        }
        let unmatched = (arrivals.len() as u64).saturating_sub(delivered);
        let duplicates = inbox.duplicates.load(Ordering::Relaxed);
        let foreign = inbox.foreign.load(Ordering::Relaxed);
        if unmatched + duplicates + foreign > 0 {
            notes.push(format!(
                "the receiver also got {duplicates} repeated webhooks, {unmatched} for postings \
                 without a successful answer and {foreign} without a posting_id"
            ));
        }
        if missing > 0 {
            notes.push(newest_message(api).await);
        }
        Ok(Report {
            scenario: "webhooks".into(),
            clients: args.clients,
            elapsed,
            outcome,
            notes,
        })
    }
}
