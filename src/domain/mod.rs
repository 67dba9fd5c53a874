//! Domain rules in plain Rust: no actix, no diesel. Types here are parsed from untrusted input
//! ("parse, don't validate"): once you hold an `EmailAddress`, it is a valid, normalised one.

pub mod account;
pub mod application;
pub mod deadlines;
pub mod services;
pub mod text;
pub mod validation;
