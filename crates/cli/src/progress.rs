//! Import progress on the terminal: an indicatif bar (files, rate, time left) when stderr is a
//! terminal, JSON lines on stderr with `--json` (stdout keeps the summary), nothing otherwise.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lexinaut_core::ImportProgress;

/// Where import and embedding progress goes.
pub(crate) enum Reporter {
    Bar(ProgressBar),
    JsonLines,
    Quiet,
}

impl Reporter {
    /// A bar on a terminal, JSON lines when `json`, else silence (a pipe or a log file).
    pub(crate) fn new(json: bool) -> Self {
        if json {
            Self::JsonLines
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} files  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Self::Bar(bar)
        } else {
            Self::Quiet
        }
    }

    /// Shows one progress message of an import.
    pub(crate) fn import(&self, p: &ImportProgress) {
        match self {
            Self::Bar(bar) => {
                bar.set_length(u64::from(p.total));
                bar.set_position(u64::from(p.processed));
                bar.set_message(describe(p));
                if p.finished {
                    bar.finish();
                }
            }
            Self::JsonLines => line("import", p),
            Self::Quiet => {}
        }
    }

    /// Shows embedding progress: `done` chunks stored, `left` waiting.
    pub(crate) fn embedding(&self, done: u64, left: i64) {
        match self {
            Self::Bar(bar) => {
                bar.set_length(done + u64::try_from(left).unwrap_or(0));
                bar.set_position(done);
                bar.set_message("chunks embedded");
            }
            Self::JsonLines => line(
                "embedding",
                &serde_json::json!({ "embedded": done, "backlog": left }),
            ),
            Self::Quiet => {}
        }
    }

    /// A fresh bar for the embedding stage after the import's.
    pub(crate) fn next_stage(self) -> Self {
        match self {
            Self::Bar(bar) => {
                bar.finish();
                Self::new(false)
            }
            other => other,
        }
    }

    /// Ends the display.
    pub(crate) fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// "12.5 files/s · 0:42 left · 2 failed", or "paused".
pub(crate) fn describe(p: &ImportProgress) -> String {
    if p.paused {
        return "paused".into();
    }
    let mut parts = vec![format!("{:.1} files/s", p.files_per_second)];
    if let Some(eta) = p.eta_seconds {
        parts.push(format!("{}:{:02} left", eta / 60, eta % 60));
    }
    if p.failed > 0 {
        parts.push(format!("{} failed", p.failed));
    }
    parts.join(" · ")
}

/// One JSON object on a line of stderr: `{"type": kind, ...fields}`.
fn line(kind: &str, value: &impl serde::Serialize) {
    let mut object = match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    object.insert("type".into(), kind.into());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", serde_json::Value::Object(object));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_shows_rate_time_left_and_failures() {
        let p = ImportProgress {
            files_per_second: 12.46,
            eta_seconds: Some(102),
            failed: 2,
            ..ImportProgress::default()
        };
        assert_eq!(describe(&p), "12.5 files/s · 1:42 left · 2 failed");
        let paused = ImportProgress { paused: true, ..p };
        assert_eq!(describe(&paused), "paused");
    }
}
