#![no_main]
//! Fuzz target: the text reader (`Format::Text`) on arbitrary bytes.

use lexinaut_fuzz::{run, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Format::Text, data));
