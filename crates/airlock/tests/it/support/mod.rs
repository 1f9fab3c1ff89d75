//! Test support: fixtures, the airlock process, clients.
pub mod gofixture;
