//! MyNorfolk: the backend behind the Norfolk County Council resident account.
//!
//! Layout, from the top: `cli` is what the binary runs; `startup` wires configuration, pool,
//! mailer and HTTP server together; `http` parses requests and shapes answers (routes, thin
//! handlers, extractors, errors); `use_cases` does what callers ask, each in one transaction with
//! its audit rows and emails; `domain` holds the rules in plain Rust; `db` is every query (and the
//! embedded PostgreSQL launcher); `email` renders and delivers; `privacy` is the personal-data
//! registry; `auth` hashes passwords and signs tokens; `configuration` and `telemetry` serve all.

pub mod auth;
pub mod cli;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod email;
pub mod http;
pub mod payments;
pub mod permit_pdf;
pub mod privacy;
pub mod schema;
pub mod startup;
pub mod startup_error;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod use_cases;
