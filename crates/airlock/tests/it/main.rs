//! End-to-end tests: the real `airlock` binary on loopback, driven by real clients.

mod cli;
mod go_e2e;
mod go_faults;
mod go_http;
mod go_verify;
mod support;
