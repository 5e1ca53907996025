#![no_main]
//! Fuzz target: the epub reader (`Format::Epub`) on arbitrary bytes.

use lexinaut_fuzz::{run, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Format::Epub, data));
