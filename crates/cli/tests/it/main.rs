//! End-to-end tests of the `lexinaut` binary: each runs the built executable against a
//! temporary data directory and checks exit codes, stdout JSON and stderr messages.

mod ask;
mod docs;
mod errors;
mod ingest;
mod kb;
mod models;
mod resume;
mod search;
mod serve;
mod support;
mod tools;
mod watch;
