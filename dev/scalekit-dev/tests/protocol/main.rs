//! The dev server's wire protocol, driven over HTTP the way the login Lambdas and a browser do.

mod authorize;
mod common;
mod delivery;
mod ending_sign_ins;
mod faults;
mod keys_logout_dev;
mod sessions_api;
mod token;
