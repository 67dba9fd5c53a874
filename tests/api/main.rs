//! Black-box tests: the real app over HTTP against a real PostgreSQL. One binary, so the private
//! cluster and the migrated template are made once for the whole run.

mod accounts;
mod applications;
mod attachments;
mod audit;
mod cli;
mod data_rights;
mod email_delivery;
mod embedded;
mod erasure_race;
mod errors;
mod health;
mod helpers;
mod instances;
mod me;
mod migrations;
mod openapi;
mod payments;
mod permits;
mod sessions;
mod unsubscribe;
