//! MyNorfolk: the backend behind the Norfolk County Council resident account.
//!
//! Layout: `http` (routes, thin handlers, extractors, errors), `db` (pool, migrations, queries,
//! the embedded PostgreSQL launcher), `email` (transports), `configuration`, `telemetry`, and
//! `startup` which wires them together. `cli` is what the binary runs.

pub mod accounts;
pub mod applications;
pub mod auth;
pub mod cli;
pub mod configuration;
pub mod data_rights;
pub mod db;
pub mod domain;
pub mod email;
pub mod http;
pub mod privacy;
pub mod retention;
pub mod schema;
pub mod startup;
pub mod startup_error;
pub mod state;
pub mod telemetry;
