//! Checking module files against a Go checksum database before they are stored:
//! signed notes, the transparency log, and the verification that uses both.

mod files;
pub mod note;
pub mod tlog;
pub mod verify;
