//! The vendor protocols Accrue speaks. Each face parses its wire format, calls the
//! store, and renders the vendor's answer shape; none writes SQL.

pub mod loymax;
pub mod tracker;
