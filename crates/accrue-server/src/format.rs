//! Rendering shared by the admin API and the faces.

use accrue_core::money::to_decimal;
use accrue_core::Millis;
use axum::http::HeaderMap;
use chrono::{NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// A time as RFC 3339 in UTC with milliseconds: `2026-11-23T20:12:15.536Z`.
pub fn time(ms: Millis) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(String::new, |t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A program-local time, written without a zone: `2026-07-05T00:00:00`.
pub fn local_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The server's public address as the caller reached it (`X-Forwarded-Proto` and
/// `Host`), for the links the admin API and the faces show.
pub fn public_base(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host").or(header("host")).unwrap_or("localhost");
    let proto = header("x-forwarded-proto").unwrap_or("http");
    format!("{proto}://{host}")
}

/// An amount as a JSON number in the currency's units: `1250, 2 → 12.5`.
pub fn number(minor: i64, scale: u32) -> serde_json::Value {
    decimal(to_decimal(minor, scale))
}

/// A decimal as the shortest JSON number: a whole number without a fraction.
pub fn decimal(d: rust_decimal::Decimal) -> serde_json::Value {
    let d = d.normalize();
    if d.scale() == 0 {
        if let Ok(whole) = i64::try_from(d) {
            return serde_json::json!(whole);
        }
    }
    serde_json::from_str(&d.to_string()).unwrap_or(serde_json::Value::Null)
}
