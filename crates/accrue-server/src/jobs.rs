//! Scheduled work inside `accrue serve`.

use accrue_store::Store;
use std::time::Duration;
use tokio::sync::watch;

const EXPIRY_BATCH: i64 = 500;

/// Expires due points and holds, and cancels purchases left unconfirmed, every
/// `interval` until told to stop.
pub(crate) async fn run(store: Store, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                expire(&store).await;
                cancel_unconfirmed(&store).await;
                expire_top_ups(&store).await;
                tell_of_expiry(&store).await;
            }
            _ = stop.changed() => return,
        }
    }
}

async fn expire(store: &Store) {
    match store.expire_due(EXPIRY_BATCH).await {
        Ok(r) if r.lots + r.holds + r.failed > 0 => {
            tracing::info!(
                lots = r.lots,
                holds = r.holds,
                failed = r.failed,
                "expired points and holds"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "expiry job failed"),
    }
}

async fn cancel_unconfirmed(store: &Store) {
    match store.cancel_due_purchases(EXPIRY_BATCH).await {
        Ok(r) if r.done + r.failed > 0 => {
            tracing::info!(purchases = r.done, failed = r.failed, "canceled unconfirmed purchases");
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "auto-cancel of purchases failed"),
    }
}

async fn expire_top_ups(store: &Store) {
    match store.expire_top_ups(EXPIRY_BATCH).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(payments = n, "expired top-ups nobody confirmed"),
        Err(e) => tracing::error!(error = %e, "expiry of top-ups failed"),
    }
}

async fn tell_of_expiry(store: &Store) {
    match store.send_expiry_notices(EXPIRY_BATCH).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(members = n, "told members of points about to expire"),
        Err(e) => tracing::error!(error = %e, "expiry notices failed"),
    }
}

/// How often the batch worker looks for files to post when it found none.
const BATCH_IDLE: Duration = Duration::from_millis(500);

/// Posts the rows of batch requests that wait (uploaded files), a chunk per write,
/// until told to stop; a request another server is posting is left to it by the
/// store's progress check.
pub(crate) async fn batches(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        let waiting = match store.running_batches().await {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::error!(error = %e, "batch worker could not list requests");
                Vec::new()
            }
        };
        for batch in &waiting {
            loop {
                if *stop.borrow() {
                    return;
                }
                match crate::service::batch::post_next(&store, batch).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(accrue_store::StoreError::Conflict(_)) => break,
                    Err(e) => {
                        tracing::error!(error = %e, request = %batch.request_id, "batch rows failed; retried later");
                        break;
                    }
                }
            }
        }
        if waiting.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(BATCH_IDLE) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// Writes running exports a part at a time, until told to stop. An export that fails
/// is ended with its error: the operator sees it and starts another.
pub(crate) async fn exports(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        let running = store.running_exports().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "export worker could not list exports");
            Vec::new()
        });
        for export in running {
            let mut current = Some(export);
            while let Some(export) = current.take() {
                if *stop.borrow() {
                    return;
                }
                match crate::service::exports::write_next(&store, &export).await {
                    Ok(next) => current = next,
                    Err(e) => {
                        tracing::error!(error = %e, export = export.id, "export failed");
                        if let Err(e) = store.fail_export(export.id, e.to_string()).await {
                            tracing::error!(error = %e, export = export.id, "could not mark the export failed");
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(BATCH_IDLE) => {}
            _ = stop.changed() => return,
        }
    }
}

/// How often birthdays are looked for: each member is told once a year however often.
const BIRTHDAY_EVERY: Duration = Duration::from_secs(3600);
/// When birthdays are first looked for after a start: not at once, so that a server that
/// starts just to be tried (or tested) does not raise them.
const BIRTHDAY_FIRST: Duration = Duration::from_secs(300);

/// Looks for members' birthdays hourly (so a program's midnight is met within the hour;
/// each program is read once a day), until told to stop.
pub(crate) async fn birthdays(store: Store, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + BIRTHDAY_FIRST, BIRTHDAY_EVERY);
    let mut looked = Default::default();
    loop {
        tokio::select! {
            _ = tick.tick() => match crate::service::events::raise_birthdays(&store, &mut looked).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(members = n, "raised birthdays"),
                Err(e) => tracing::error!(error = %e, "birthdays failed; tried again later"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// Runs each program's VK collector every `every_minutes`, until told to stop.
pub(crate) async fn vk_collectors(store: Store, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::new();
    let mut last_run: std::collections::HashMap<i64, std::time::Instant> = Default::default();
    loop {
        match store.vk_collectors().await {
            Ok(programs) => {
                for (program_id, settings) in programs {
                    let every = settings.collector.as_ref().map_or(10, |c| c.every_minutes);
                    let due = last_run
                        .get(&program_id)
                        .is_none_or(|at| at.elapsed() >= Duration::from_secs(u64::from(every) * 60));
                    if !due {
                        continue;
                    }
                    last_run.insert(program_id, std::time::Instant::now());
                    match crate::service::vk_collector::collect(&store, &http, program_id, &settings).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(program_id, events = n, "VK collector recorded events"),
                        Err(e) => tracing::warn!(program_id, error = %e, "VK collector failed; tried again later"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "VK collectors could not be listed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}
