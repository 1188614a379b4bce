//! A local stand-in for the deployed API Gateway HTTP API, for `dev/run` and the tests: it routes
//! and authorizes from `template.yaml` itself (the same `HttpApi` events and `Auth.Authorizers`
//! SAM deploys), builds the payload 2.0 events API Gateway builds, and answers as API Gateway
//! answers (`401`, `403`, `500`, `{"message": ...}`). `cargo lambda watch` routes but does not
//! authorize; this sits in front of it and invokes the functions by name. Never deployed.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod event;
pub mod gateway;
pub mod invoke;
pub mod template;

pub use gateway::{Gateway, Invocation, Invoke, InvokeError};
pub use template::{Api, Authorizer, Route};
