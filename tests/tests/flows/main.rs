//! Whole flows through the real handlers, against moto (over HTTP) and the dev Scalekit server.
//! Run with `./dev/test`, which starts moto and sets `AWS_ENDPOINT_URL`.

mod callback;
mod conformance;
mod faults;
mod hostile;
mod lifecycle;
mod load;
mod login;
mod metrics;
mod operations;
mod piles;
mod protected_routes;
mod reliability;
mod session_sync;
mod support;
