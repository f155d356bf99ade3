//! Affiliate tracking, pure: click ids, registration links, postback parsing, event
//! classification and deduplication keys, currencies, forwarding values and the
//! ready-made integration templates shipped with the binary.
//!
//! The conventions follow the Chatterfy tracker (postbacks to
//! `/api/postbacks/{integration}/tracker-postback?tracker.event=…&clickid=…`), see
//! `docs/tracker.md`.

pub mod currency;
pub mod event;
pub mod forward;
pub mod ids;
pub mod link;
pub mod params;
pub mod stats;
pub mod templates;
