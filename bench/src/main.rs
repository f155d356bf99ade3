//! Closed-loop load generator for Accrue: each scenario runs a fixed number of
//! clients for a fixed time; every client sends its next request as soon as the
//! previous one is answered. Prints a Markdown table; `bench/run.sh` drives it.

use anyhow::{bail, Context, Result};
use reqwest::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCENARIOS: [&str; 4] = ["baseline", "accrue", "withdraw_hot", "history"];
const SEED_MEMBERS: usize = 1000;
const HISTORY_POSTINGS: usize = 200;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: accrue-bench --base URL --key KEY [--duration SECS] \
[--clients N] [--scenario baseline|accrue|withdraw_hot|history|all]";

struct Args {
    base: String,
    key: String,
    duration: Duration,
    clients: usize,
    scenario: String,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        base: String::new(),
        key: String::new(),
        duration: Duration::from_secs(10),
        clients: 16,
        scenario: "all".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--base" => args.base = value.trim_end_matches('/').to_string(),
            "--key" => args.key = value,
            "--duration" => args.duration = Duration::from_secs_f64(value.parse()?),
            "--clients" => args.clients = value.parse()?,
            "--scenario" => args.scenario = value,
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    if args.base.is_empty() || args.key.is_empty() {
        bail!("--base and --key are required\n{USAGE}");
    }
    if args.scenario != "all" && !SCENARIOS.contains(&args.scenario.as_str()) {
        bail!("unknown scenario {:?}\n{USAGE}", args.scenario);
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    Ok(args)
}

/// The server, with a counter that makes every Idempotency-Key unique.
#[derive(Clone)]
struct Api {
    http: Client,
    base: String,
    key: String,
    run_id: u128,
    seq: Arc<AtomicU64>,
}

impl Api {
    fn new(args: &Args) -> Result<Api> {
        let http = Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Api {
            http,
            base: args.base.clone(),
            key: args.key.clone(),
            run_id: SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos(),
            seq: Arc::new(AtomicU64::new(0)),
        })
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
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

    /// For setup: the request must succeed; returns its JSON body.
    async fn expect_ok(request: RequestBuilder) -> Result<Value> {
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("setup request failed: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn create_member(&self) -> Result<i64> {
        let body = Self::expect_ok(self.post("/admin/v1/members", &json!({}))).await?;
        body["id"].as_i64().context("member without an id")
    }

    async fn accrue(&self, member: i64, amount: &str) -> Result<()> {
        Self::expect_ok(self.operation("accrue", member, amount, self.next())).await?;
        Ok(())
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
}

impl Load {
    fn request(&self, api: &Api) -> RequestBuilder {
        match self {
            Load::Get(path) => api.get(path),
            Load::Operation {
                kind,
                members,
                amount,
            } => {
                let n = api.next();
                let member = members[n as usize % members.len()];
                api.operation(kind, member, amount, n)
            }
        }
    }
}

/// Creates the data a scenario needs and says what its requests are.
async fn setup(scenario: &str, api: &Api, clients: usize) -> Result<Load> {
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
        other => bail!("unknown scenario {other:?}"),
    })
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

/// What one client saw: the latency of every request (failed ones too), and its
/// errors by kind.
#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }
}

/// One closed-loop client: sends requests until the deadline.
async fn client(api: Api, load: Arc<Load>, deadline: Instant) -> Outcome {
    let mut out = Outcome::default();
    while Instant::now() < deadline {
        let start = Instant::now();
        let error = match load.request(&api).send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.err().map(transport_error),
            Ok(r) => Some(describe_failure(r).await),
            Err(e) => Some(transport_error(e)),
        };
        let micros = start.elapsed().as_micros();
        out.latencies_us
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
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
    let load = Arc::new(
        setup(scenario, api, args.clients)
            .await
            .with_context(|| format!("setting up {scenario}"))?,
    );
    eprintln!(
        "[{scenario}] setup took {:.1?}; {} clients for {:?}",
        setup_start.elapsed(),
        args.clients,
        args.duration
    );
    let start = Instant::now();
    let deadline = start + args.duration;
    let clients: Vec<_> = (0..args.clients)
        .map(|_| tokio::spawn(client(api.clone(), load.clone(), deadline)))
        .collect();
    let mut outcome = Outcome::default();
    for c in clients {
        outcome.merge(c.await?);
    }
    let elapsed = start.elapsed();
    outcome.latencies_us.sort_unstable();
    Ok(Report {
        scenario: scenario.into(),
        clients: args.clients,
        elapsed,
        outcome,
    })
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
            errors
                .iter()
                .map(|(kind, n)| format!("- {}: {n} × {kind}", r.scenario))
        })
        .collect();
    if !errors.is_empty() {
        println!("\nErrors:\n{}", errors.join("\n"));
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
        reports.push(run_scenario(scenario, &api, &args).await?);
    }
    print_table(&reports);
    Ok(())
}
