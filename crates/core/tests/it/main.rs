//! Integration tests of lexinaut-core against real SQLite catalogues in temporary directories.
//! One test binary for the crate (STYLE.md §9); each module covers one area.

mod backends;
mod chat;
mod corpus;
mod fault_proxy;
mod ingest;
mod library;
mod outage;
mod search;
mod support;
mod vectors;
mod watch;
