//! Request handlers, one module per area of the contract. Handlers parse, call the domain and
//! persistence layers, and shape the response — nothing more.

pub mod docs;
pub mod health;
