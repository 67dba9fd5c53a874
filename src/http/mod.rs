//! The HTTP layer: one routing function, thin handlers, the extractors that turn requests into
//! typed input, middleware, and the error type every handler returns.

pub mod auth;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod list_cache;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod schemas;
pub mod throttle;
pub mod views;

pub use error::ApiError;
