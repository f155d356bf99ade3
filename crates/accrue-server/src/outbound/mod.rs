//! Everything Accrue sends out: one outbox in the database, one delivery worker, and
//! the channels it delivers through (HTTP, e-mail, SMS, log).

pub mod email;
pub mod guard;
pub mod worker;
