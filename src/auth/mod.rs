//! Authentication building blocks with no HTTP in them: password hashing on a bounded pool,
//! access tokens (JWT), opaque single-use tokens, signed links and codes, and throttles against
//! guessing.

pub mod jwt;
pub mod password;
pub mod signed;
pub mod throttle;
pub mod tokens;
