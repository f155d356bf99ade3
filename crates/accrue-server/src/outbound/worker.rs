//! The delivery worker: claims due messages under a lease, sends each through its
//! channel, stores the attempt and decides what happens next. Several workers (in
//! several servers) may share one database: claims never overlap.

use super::email::Mailer;
use super::guard::{self, Allowlist};
use accrue_core::outbox::{judge, next_attempt, retry_after_seconds, MessageKind, Verdict, DEFAULT_SCHEDULE};
use accrue_core::signature::{signature_header, WebhookSecret};
use accrue_core::template::UrlTemplate;
use accrue_store::outbox::{Attempt, AttemptOutcome, Message};
use accrue_store::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use rand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The first bytes of an answer that are kept with the attempt.
const KEPT_BODY: usize = 20 * 1024;

/// Where e-mail goes: stored only (readable through the admin API), or SMTP.
#[derive(Clone, Debug)]
pub enum EmailChannel {
    Log,
    Smtp(Arc<Mailer>),
}

/// Where SMS goes: stored only, or a GET of a gateway URL template with `{phone}` and `{text}`.
#[derive(Clone, Debug)]
pub enum SmsChannel {
    Log,
    Gateway(UrlTemplate),
}

pub const SMS_PLACEHOLDERS: &[&str] = &["phone", "text"];

/// Where pushes go: stored only, or POSTed to a push gateway in gorush's format
/// (`{"notifications":[{"tokens","platform","title","message","data"}]}`), which holds
/// the FCM, APNs and HMS credentials.
#[derive(Clone, Debug)]
pub enum PushChannel {
    Log,
    Gateway(String),
}

#[derive(Clone, Debug)]
pub struct DeliveryOptions {
    /// Whether this server delivers at all (several servers may share the work, or leave it to one).
    pub enabled: bool,
    /// Seconds between attempts; the message fails after the last.
    pub schedule: Vec<i64>,
    pub allow: Allowlist,
    pub timeout: Duration,
    /// How long a claim lasts: a worker that dies mid-delivery frees its messages after it.
    pub lease: Duration,
    pub poll_interval: Duration,
    pub concurrency: usize,
    pub email: EmailChannel,
    pub sms: SmsChannel,
    pub push: PushChannel,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            enabled: true,
            schedule: DEFAULT_SCHEDULE.to_vec(),
            allow: Allowlist::default(),
            timeout: Duration::from_secs(15),
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_millis(500),
            concurrency: 32,
            email: EmailChannel::Log,
            sms: SmsChannel::Log,
            push: PushChannel::Log,
        }
    }
}

/// Delivery attempts by outcome and their durations, for `/metrics`.
#[derive(Debug)]
pub struct DeliveryMetrics {
    attempts: Family<AttemptLabels, Counter>,
    durations: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    outcome: &'static str,
}

const OUTCOMES: [&str; 3] = ["delivered", "retried", "failed"];

impl Default for DeliveryMetrics {
    fn default() -> DeliveryMetrics {
        let metrics = DeliveryMetrics {
            attempts: Family::default(),
            durations: Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        };
        // Every outcome is shown from the start, at 0 until an attempt comes to it.
        for outcome in OUTCOMES {
            let _ = metrics.attempts.get_or_create(&AttemptLabels { outcome });
        }
        metrics
    }
}

impl DeliveryMetrics {
    fn observe(&self, outcome: &AttemptOutcome, seconds: f64) {
        let outcome = match outcome {
            AttemptOutcome::Delivered => OUTCOMES[0],
            AttemptOutcome::RetryAt(_) => OUTCOMES[1],
            AttemptOutcome::Failed | AttemptOutcome::EndpointGone => OUTCOMES[2],
        };
        self.attempts.get_or_create(&AttemptLabels { outcome }).inc();
        self.durations.observe(seconds);
    }

    /// Adds the attempts and their durations to the server's `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "outbox_deliveries",
            "Delivery attempts by outcome",
            self.attempts.clone(),
        );
        registry.register_with_unit(
            "outbox_delivery",
            "Time delivery attempts took",
            Unit::Seconds,
            self.durations.clone(),
        );
    }
}

/// What one attempt came to.
enum Sent {
    /// An HTTP answer.
    Answer {
        status: u16,
        body: String,
        retry_after: Option<i64>,
    },
    /// Handed over without HTTP (log channel, SMTP accepted it).
    Done(String),
    /// No answer: worth another try (timeout, refused connection, SMTP trouble).
    Trouble(String),
    /// Can never succeed as it is (forbidden address, unknown endpoint).
    Impossible(String),
}

#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    options: Arc<DeliveryOptions>,
    client: reqwest::Client,
    metrics: Arc<DeliveryMetrics>,
    worker: String,
}

impl Deliverer {
    pub fn new(store: Store, options: DeliveryOptions, metrics: Arc<DeliveryMetrics>) -> Deliverer {
        let client = guard::client(options.allow.clone(), options.timeout);
        let worker = format!("worker-{:016x}", rand::random::<u64>());
        Deliverer {
            store,
            options: Arc::new(options),
            client,
            metrics,
            worker,
        }
    }

    /// Delivers until `stop` turns true; deliveries under way are finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(worker = %self.worker, "delivery worker started");
        // Woken by our own commits; the poll finds messages other servers queued.
        let wakeup = self.store.outbox_wakeup();
        loop {
            if *stop.borrow() {
                return;
            }
            let delivered = match self.deliver_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "claiming outbox messages failed");
                    0
                }
            };
            if delivered == 0 {
                tokio::select! {
                    _ = wakeup.notified() => {}
                    _ = tokio::time::sleep(self.options.poll_interval) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// Claims one batch of due messages and delivers it; returns how many there were.
    pub async fn deliver_due(&self) -> Result<usize, accrue_store::StoreError> {
        let lease_until = self.store.now() + self.options.lease.as_millis() as i64;
        let batch = self
            .store
            .claim_messages(&self.worker, self.options.concurrency as i64, lease_until)
            .await?;
        let count = batch.len();
        let mut deliveries = tokio::task::JoinSet::new();
        for message in batch {
            let me = self.clone();
            deliveries.spawn(async move { me.deliver(message).await });
        }
        while deliveries.join_next().await.is_some() {}
        Ok(count)
    }

    async fn deliver(&self, message: Message) {
        let attempted_at = self.store.now();
        let started = Instant::now();
        let (sent, secrets) = match message.open(self.store.sealer()) {
            Ok((payload, secrets)) => (self.send(&message, &payload).await, secrets),
            Err(e) => (Sent::Impossible(e), Vec::new()),
        };
        // What is kept of an attempt (a gateway's echo, an error naming the URL) never
        // holds the message's secrets.
        let keep = |text: String| accrue_core::redact::erase_all(&text, secrets.iter().map(String::as_str));
        let duration = started.elapsed();
        let attempts_done = message.attempts as usize + 1;
        let retry = |retry_after: Option<i64>| {
            let jitter = rand::thread_rng().gen::<f64>();
            match next_attempt(
                attempts_done,
                &self.options.schedule,
                self.store.now(),
                retry_after,
                jitter,
            ) {
                Some(at) => AttemptOutcome::RetryAt(at),
                None => AttemptOutcome::Failed,
            }
        };
        let (status_code, response_body, error, outcome) = match sent {
            Sent::Answer {
                status,
                body,
                retry_after,
            } => {
                let outcome = match judge(Some(status)) {
                    Verdict::Delivered => AttemptOutcome::Delivered,
                    Verdict::Gone if message.kind == MessageKind::Webhook => AttemptOutcome::EndpointGone,
                    Verdict::Gone => AttemptOutcome::Failed,
                    Verdict::Retry => retry(retry_after),
                };
                let error = (outcome != AttemptOutcome::Delivered).then(|| format!("answered HTTP {status}"));
                (Some(status), Some(keep(body)), error, outcome)
            }
            Sent::Done(note) => (None, Some(note), None, AttemptOutcome::Delivered),
            Sent::Trouble(e) => (None, None, Some(keep(e)), retry(None)),
            Sent::Impossible(e) => (None, None, Some(keep(e)), AttemptOutcome::Failed),
        };
        self.metrics.observe(&outcome, duration.as_secs_f64());
        let attempt = Attempt {
            attempted_at,
            status_code,
            duration_ms: duration.as_millis() as i64,
            response_body,
            error,
        };
        match self
            .store
            .record_attempt(
                message.id,
                &self.worker,
                attempt,
                outcome,
                self.is_mailbox(message.kind),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(message = %message.uid, "the claim on a message ran out during its delivery"),
            Err(e) => tracing::error!(message = %message.uid, error = %e, "storing a delivery attempt failed"),
        }
    }

    /// Whether messages of this kind stay in the outbox as their delivery (the log
    /// channel), so their sealed secrets are kept for the admin API to reveal.
    fn is_mailbox(&self, kind: MessageKind) -> bool {
        match kind {
            MessageKind::Email => matches!(self.options.email, EmailChannel::Log),
            MessageKind::Sms => matches!(self.options.sms, SmsChannel::Log),
            MessageKind::Push => matches!(self.options.push, PushChannel::Log),
            _ => false,
        }
    }

    async fn send(&self, m: &Message, payload: &Value) -> Sent {
        match m.kind {
            MessageKind::Webhook => self.send_webhook(m, payload).await,
            MessageKind::HttpGet => self.http(self.client.get(&m.target), &m.target).await,
            MessageKind::HttpPost => self.http(self.client.post(&m.target).json(payload), &m.target).await,
            MessageKind::Email => self.send_email(m, payload).await,
            MessageKind::Sms => self.send_sms(m, payload).await,
            MessageKind::Push => self.send_push(payload).await,
        }
    }

    async fn send_webhook(&self, m: &Message, payload: &Value) -> Sent {
        let Some(endpoint_id) = m.endpoint_id else {
            return Sent::Impossible("webhook without an endpoint".into());
        };
        let endpoint = match self.store.endpoint(m.program_id, endpoint_id).await {
            Ok(e) if e.enabled => e,
            Ok(_) => return Sent::Impossible("the endpoint is disabled".into()),
            Err(e) => return Sent::Trouble(format!("reading the endpoint: {e}")),
        };
        let now = self.store.now();
        let mut sealed = vec![endpoint.secret.clone()];
        if endpoint.previous_secret_expires_at.is_some_and(|until| until > now) {
            sealed.extend(endpoint.previous_secret.clone());
        }
        let secrets = match sealed
            .iter()
            .map(|s| self.open_secret(s))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(s) => s,
            Err(e) => return Sent::Impossible(e),
        };
        let body = payload.to_string();
        let timestamp = now / 1000;
        let signature = signature_header(&secrets.iter().collect::<Vec<_>>(), &m.uid, timestamp, &body);
        let request = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &m.uid)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        self.http(request, &endpoint.url).await
    }

    fn open_secret(&self, sealed: &str) -> Result<WebhookSecret, String> {
        let text = self.store.sealer().open(sealed)?;
        WebhookSecret::parse(&text).map_err(|e| e.to_string())
    }

    async fn http(&self, request: reqwest::RequestBuilder, url: &str) -> Sent {
        // Literal addresses never reach the resolver, so every URL is checked here too.
        if let Err(e) = guard::check_url(url, &self.options.allow) {
            return Sent::Impossible(e.to_string());
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Sent::Trouble(describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_seconds);
        let mut body = Vec::new();
        while body.len() < KEPT_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(KEPT_BODY);
        Sent::Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after,
        }
    }

    async fn send_email(&self, m: &Message, payload: &Value) -> Sent {
        let field = |name: &str| {
            payload
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        match &self.options.email {
            EmailChannel::Log => Sent::Done("stored by the log channel".into()),
            EmailChannel::Smtp(mailer) => match mailer.send(&m.target, &field("subject"), &field("body")).await {
                Ok(()) => Sent::Done("accepted by the SMTP server".into()),
                Err(e) => Sent::Trouble(e),
            },
        }
    }

    async fn send_sms(&self, m: &Message, payload: &Value) -> Sent {
        match &self.options.sms {
            SmsChannel::Log => Sent::Done("stored by the log channel".into()),
            SmsChannel::Gateway(template) => {
                let text = payload.get("text").and_then(|v| v.as_str()).unwrap_or_default();
                let values = BTreeMap::from([
                    ("phone".to_string(), m.target.clone()),
                    ("text".to_string(), text.to_string()),
                ]);
                let url = template.render(&values);
                self.http(self.client.get(&url), &url).await
            }
        }
    }

    /// A push to one device: the payload holds its (unsealed) token, platform and text.
    async fn send_push(&self, payload: &Value) -> Sent {
        let PushChannel::Gateway(url) = &self.options.push else {
            return Sent::Done("stored by the log channel".into());
        };
        // gorush's platforms: 1 iOS, 2 Android, 3 Huawei.
        let platform = match payload["platform"].as_str() {
            Some("Ios") => 1,
            Some("Harmony") => 3,
            _ => 2,
        };
        let notification = serde_json::json!({
            "tokens": [payload["token"]], "platform": platform,
            "title": payload["title"], "message": payload["body"], "data": payload["data"],
        });
        let body = serde_json::json!({ "notifications": [notification] });
        self.http(self.client.post(url).json(&body), url).await
    }
}

/// A transport error in words, with its cause (`connection refused`, `timed out` …).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
