//! The harness of the cross-function tests: a [`Stack`] of real stand-ins (moto's DynamoDB and
//! Secrets Manager over HTTP, our Scalekit-compatible server), requests built from the sample
//! events in `events/` through lambda_http's own decoding, and a [`Browser`] cookie jar.

pub mod browser;
pub mod events;
pub mod gateway;
pub mod iam;
pub mod logs;
pub mod stack;
pub mod table;
pub mod template;

pub use browser::Browser;
pub use stack::Stack;
