//! The one thing every fuzz target does: run a reader on the input and ignore its answer.
//! `Err` is a correct reaction to bad input; a panic that escapes `extract_bytes_with`, an
//! abort, a sanitizer report, a timeout or running out of memory is a finding.
//!
//! The readers catch panics from their parser crates on purpose (lopdf, calamine, cfb guards),
//! but libfuzzer-sys installs a panic hook that aborts on *every* panic, caught or not. So the
//! hook is replaced by one that only records the panic, and the process aborts (a crash for
//! libFuzzer) only when the panic reaches this function. Set `FUZZ_STRICT_PANICS=1` to keep
//! libfuzzer-sys' behaviour and report the caught panics as well.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

pub use lexinaut_extract::Format;
use lexinaut_extract::{extract_bytes_with, Limits};

/// Small bounds so one input cannot take the fuzzer's memory: libFuzzer runs with
/// `-rss_limit_mb=2048` and `-max_len=1048576`.
pub const LIMITS: Limits = Limits {
    max_file_bytes: 2 * 1024 * 1024,
    max_entry_bytes: 8 * 1024 * 1024,
    max_inflated_bytes: 32 * 1024 * 1024,
};

thread_local! {
    /// The last panic on this thread: message, location and (with RUST_BACKTRACE=1) backtrace.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Extracts `data` as `format`; the result is dropped.
pub fn run(format: Format, data: &[u8]) {
    HOOK.call_once(|| {
        if std::env::var_os("FUZZ_STRICT_PANICS").is_none() {
            panic::set_hook(Box::new(|info| {
                let trace = std::backtrace::Backtrace::capture();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{info}\n{trace}")));
            }));
        }
    });
    let name = format!("fuzz-input.{}", format.name());
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = extract_bytes_with(Path::new(&name), format, data, &LIMITS);
    }));
    if outcome.is_err() {
        let panic = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
        eprintln!("panicked: a panic escaped extract_bytes_with ({name}): {panic}");
        std::process::abort();
    }
}
