//! The server's end-to-end suites over real HTTP, in one test binary (each suite a
//! module), so the crate's tests link once.

mod admin_api;
mod batch;
mod browser;
mod cache;
mod console;
mod coupons;
mod events;
mod hardening;
mod integra;
mod loymax_account;
mod loymax_catalogue;
mod loymax_member;
mod loymax_processing;
mod loymax_programs;
mod loymax_purchase_records;
mod loymax_registration;
mod member_status;
mod outbox;
mod processing_support;
mod referral;
mod service;
mod snapshots;
mod subscriptions;
mod tracker;
