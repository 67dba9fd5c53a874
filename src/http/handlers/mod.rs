//! Request handlers, one module per area of the contract. Handlers parse, call the domain and
//! persistence layers, and shape the response — nothing more.

pub mod accounts;
pub mod admin;
pub mod admin_applications;
pub mod admin_audit;
pub mod admin_data_requests;
pub mod applications;
pub mod attachments;
pub mod data_rights;
pub mod docs;
pub mod health;
pub mod me;
pub mod payments;
pub mod permits;
pub mod sessions;
pub mod simulated_pay;
pub mod unsubscribe;
