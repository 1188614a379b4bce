//! The library every login Lambda function shares: a strict Scalekit OAuth 2.0 / OpenID Connect
//! client, login transactions and sessions (cookies, DynamoDB), secrets (Secrets Manager),
//! configuration and HTTP helpers.

#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod crypto;
pub mod failures;
pub mod http;
pub mod return_to;
pub mod scalekit;
pub mod secret;
pub mod secrets;
pub mod session;
pub mod telemetry;

pub use app::App;
