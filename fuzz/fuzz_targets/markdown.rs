#![no_main]
//! Fuzz target: the markdown reader (`Format::Markdown`) on arbitrary bytes.

use lexinaut_fuzz::{run, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Format::Markdown, data));
