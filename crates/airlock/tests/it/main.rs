//! End-to-end tests: the real `airlock` binary on loopback, driven by real clients.

mod cli;
mod gc;
mod go_e2e;
mod go_faults;
mod go_http;
mod go_queries;
mod go_verify;
mod oci_e2e;
mod oci_http;
mod oci_mirror;
mod pypi_e2e;
mod pypi_http;
mod pypi_mirror;
mod support;
mod yum_e2e;
mod yum_mirror;
