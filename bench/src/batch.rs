//! `batch_file`: a file of batch rows (`BENCH_BATCH_ROWS`, a million by default) is
//! uploaded when the load starts and posted by the server's worker while tills run whole
//! purchases (the `purchase` load): the table's p99 is the tills' during the batch. The
//! notes say how long the upload and the posting took, and whether the batch finished
//! within the run.

use super::{purchase, Api, Result};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Members the rows are spread over.
const MEMBERS: usize = 1000;

pub struct BatchRun {
    pub purchases: purchase::Purchases,
    progress: Arc<Mutex<Vec<String>>>,
}

impl BatchRun {
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.purchases.notes();
        notes.extend(self.progress.lock().expect("progress").iter().cloned());
        notes
    }
}

pub async fn setup(api: &Api) -> Result<BatchRun> {
    let rows: usize = std::env::var("BENCH_BATCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let purchases = purchase::setup(api, 3, 200).await?;
    let key = batch_key(api).await?;
    let run = api.run_id % 1_000_000_000;
    let mut cards = Vec::with_capacity(MEMBERS);
    for n in 0..MEMBERS {
        let member = api.create_member().await?;
        let card = format!("8{run}{n:05}");
        Api::expect_ok(api.post("/admin/v1/cards/import", &json!({"numbers": [card]}))).await?;
        Api::expect_ok(api.post(&format!("/admin/v1/members/{member}/cards"), &json!({"number": card}))).await?;
        cards.push(card);
    }
    let mut csv = String::with_capacity(rows * 32);
    csv.push_str("memberNo,pointsAmount,description\n");
    for i in 0..rows {
        csv.push_str(&format!("{},1.5,bench row {i}\n", cards[i % MEMBERS]));
    }
    let progress = Arc::new(Mutex::new(Vec::new()));
    let (api, request_id, kept) = (api.clone(), format!("bench-{run}"), progress.clone());
    tokio::spawn(async move {
        if let Err(e) = upload_and_wait(&api, &key, &request_id, csv, rows, &kept).await {
            *kept.lock().expect("progress") = vec![format!("the batch failed: {e:#}")];
        }
    });
    Ok(BatchRun { purchases, progress })
}

/// The batch face's key: made when the face is set up, else rotated.
async fn batch_key(api: &Api) -> Result<String> {
    let set = Api::expect_ok(
        api.http
            .put(format!("{}/admin/v1/programs/default/batch", api.base))
            .bearer_auth(&api.key)
            .json(&json!({"member_no": ["card"]})),
    )
    .await?;
    if let Some(key) = set["key"].as_str() {
        return Ok(key.to_string());
    }
    let rotated = Api::expect_ok(api.post("/admin/v1/programs/default/batch/rotate-key", &json!({}))).await?;
    Ok(rotated["key"].as_str().context("no batch key")?.to_string())
}

/// Uploads the file and follows its posting; `progress` always holds the latest word.
async fn upload_and_wait(
    api: &Api,
    key: &str,
    request_id: &str,
    csv: String,
    rows: usize,
    progress_note: &Mutex<Vec<String>>,
) -> Result<()> {
    let say = |note: String| *progress_note.lock().expect("progress") = vec![note];
    say(format!("batch of {rows} rows: still uploading when the run ended"));
    let started = Instant::now();
    let url = format!(
        "{}/loytech.batchoperationsservice/api/batch/file?requestId={request_id}&type=4",
        api.base
    );
    let answer = api
        .http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .timeout(Duration::from_secs(3600))
        .body(csv)
        .send()
        .await?;
    if answer.status().as_u16() != 202 {
        bail!(
            "upload answered {}: {}",
            answer.status(),
            answer.text().await.unwrap_or_default()
        );
    }
    let uploaded = started.elapsed();
    say(format!(
        "batch of {rows} rows: upload and keep {:.1} s, posting not started",
        uploaded.as_secs_f64()
    ));
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let progress: Value = api
            .http
            .get(format!(
                "{}/loytech.batchoperationsservice/api/batch/{request_id}",
                api.base
            ))
            .bearer_auth(key)
            .send()
            .await?
            .json()
            .await?;
        let posting = started.elapsed() - uploaded;
        let processed = progress["processedRows"].as_f64().unwrap_or_default();
        let done = progress["state"] == "done";
        say(format!(
            "batch of {rows} rows: upload and keep {:.1} s; {} {processed} rows in {:.1} s of posting ({:.0} rows/s), posted {}, failed {}",
            uploaded.as_secs_f64(),
            if done { "done:" } else { "when the run ended, posted" },
            posting.as_secs_f64(),
            processed / posting.as_secs_f64(),
            progress["postedRows"],
            progress["failedRows"]
        ));
        if done {
            return Ok(());
        }
    }
}
