//! lexinaut-extract against the shared samples (../shared/data/samples, facts in EXPECTED.md)
//! and against inputs the tests write themselves.

mod office;
mod pdf_ole;
mod support;
mod text_formats;
mod web_mail;
