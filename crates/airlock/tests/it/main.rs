//! End-to-end tests: the real `airlock` binary on loopback, driven by real clients.

mod cli;
mod go_e2e;
mod go_faults;
mod go_http;
mod go_queries;
mod oci_e2e;
mod oci_http;
mod oci_mirror;
mod support;
