#![no_main]
//! Fuzz target: the odt reader (`Format::Odt`) on arbitrary bytes.

use lexinaut_fuzz::{run, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Format::Odt, data));
