//! OCR for PDF pages without a usable text layer, through the `pdftoppm` (poppler) and
//! `tesseract` command-line tools: finding them, rendering a page, recognizing it, timeouts.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Tesseract languages used for every page: simplified Chinese plus English.
const LANGUAGES: &str = "chi_sim+eng";
/// Rendering resolution; 200 dpi keeps small CJK glyphs legible without huge images.
const RENDER_DPI: &str = "200";
/// One page may take this long to render or to recognize before its tool is killed.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// `tesseract --list-langs` must answer within this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of a tool's stdout or stderr that are kept (the rest is read and dropped).
const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Why a page could not be recognized.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OcrError {
    #[error("cannot run {tool}: {source}")]
    Spawn {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error("{tool} did not finish within {} s", .limit.as_secs())]
    Timeout { tool: &'static str, limit: Duration },
    #[error("{tool} failed: {message}")]
    Failed { tool: &'static str, message: String },
}

/// The two installed tools, found on PATH (or in the usual install folders).
#[derive(Debug, Clone)]
pub(crate) struct OcrEngine {
    pdftoppm: PathBuf,
    tesseract: PathBuf,
}

impl OcrEngine {
    /// The engine, if `pdftoppm` and `tesseract` are installed and tesseract has both the
    /// `chi_sim` and the `eng` language data. Not cached: the user may install them any time.
    pub(crate) fn probe() -> Option<Self> {
        let pdftoppm = find_program("pdftoppm")?;
        let tesseract = find_program("tesseract")?;
        let mut cmd = Command::new(&tesseract);
        cmd.arg("--list-langs");
        // Tesseract 3 printed the list on stderr, later versions on stdout.
        let out = run(&mut cmd, "tesseract", PROBE_TIMEOUT).ok()?;
        let listing = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = |lang: &str| listing.lines().any(|l| l.trim() == lang);
        (listed("chi_sim") && listed("eng")).then_some(Self {
            pdftoppm,
            tesseract,
        })
    }

    /// Renders page `number` (1-based) of the PDF at `pdf` into `workdir` and recognizes it.
    pub(crate) fn recognize_pdf_page(
        &self,
        pdf: &Path,
        number: u32,
        workdir: &Path,
    ) -> Result<String, OcrError> {
        let stem = workdir.join(format!("page-{number}"));
        let page = number.to_string();
        let mut render = Command::new(&self.pdftoppm);
        render
            .args([
                "-r",
                RENDER_DPI,
                "-f",
                &page,
                "-l",
                &page,
                "-png",
                "-singlefile",
            ])
            .arg(pdf)
            .arg(&stem);
        run(&mut render, "pdftoppm", PAGE_TIMEOUT)?.check("pdftoppm")?;
        let image = stem.with_extension("png");
        if !image.is_file() {
            return Err(OcrError::Failed {
                tool: "pdftoppm",
                message: format!("no image written for page {number}"),
            });
        }
        let mut recognize = Command::new(&self.tesseract);
        recognize.arg(&image).args(["stdout", "-l", LANGUAGES]);
        let out = run(&mut recognize, "tesseract", PAGE_TIMEOUT);
        // Page images are large; do not keep one per page until the document is done.
        let _ = std::fs::remove_file(&image);
        let out = out?.check("tesseract")?;
        Ok(tidy(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// What a finished tool printed.
struct Output {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    fn check(self, tool: &'static str) -> Result<Self, OcrError> {
        if self.success {
            return Ok(self);
        }
        let message = String::from_utf8_lossy(&self.stderr)
            .trim()
            .chars()
            .take(500)
            .collect::<String>();
        Err(OcrError::Failed {
            tool,
            message: if message.is_empty() {
                "exited with an error".to_owned()
            } else {
                message
            },
        })
    }
}

/// Runs `cmd` to completion, killing it after `limit`. Both pipes are drained on their own
/// threads so a chatty tool cannot block on a full pipe.
fn run(cmd: &mut Command, tool: &'static str, limit: Duration) -> Result<Output, OcrError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|source| OcrError::Spawn { tool, source })?;
    let stdout = child
        .stdout
        .take()
        .map(|pipe| thread::spawn(move || drain(pipe)));
    let stderr = child
        .stderr
        .take()
        .map(|pipe| thread::spawn(move || drain(pipe)));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => break Err(OcrError::Timeout { tool, limit }),
            Ok(None) => thread::sleep(Duration::from_millis(25)),
            Err(source) => break Err(OcrError::Spawn { tool, source }),
        }
    };
    if status.is_err() {
        // Only the child we started; its pipes close when it dies, which ends the drains.
        let _ = child.kill();
        let _ = child.wait();
    }
    let join =
        |h: Option<thread::JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    let (stdout, stderr) = (join(stdout), join(stderr));
    Ok(Output {
        success: status?.success(),
        stdout,
        stderr,
    })
}

/// Reads a pipe to its end, keeping at most [`MAX_OUTPUT_BYTES`].
fn drain(mut pipe: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// Finds an executable on PATH, then in the folders installers use when a desktop app's PATH
/// is minimal (macOS apps do not see the shell's PATH).
fn find_program(name: &str) -> Option<PathBuf> {
    let file = if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_owned()
    };
    let extra: &[&str] = if cfg!(windows) {
        &[r"C:\Program Files\Tesseract-OCR"]
    } else {
        &["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"]
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(OsStr::new(&file)))
        .find(|candidate| candidate.is_file())
}

/// Tesseract's text tidied for indexing: form feeds and trailing spaces dropped, runs of blank
/// lines collapsed, and the spaces it puts between Chinese characters removed.
pub(crate) fn tidy(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank_run = 0;
    for line in raw.lines() {
        let line = join_cjk(line.trim_matches(|c: char| c.is_whitespace() || c == '\u{c}'));
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        out.push_str(&line);
        blank_run = 0;
    }
    out
}

/// Removes spaces that stand between two CJK characters (ideographs or full-width punctuation).
fn join_cjk(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = chars[..i].iter().rev().find(|c| **c != ' ');
            let after = chars[i + 1..].iter().find(|c| **c != ' ');
            if before.is_some_and(|c| is_cjk(*c)) && after.is_some_and(|c| is_cjk(*c)) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// CJK ideographs and full-width punctuation: characters that take two columns and that
/// Chinese text runs together without spaces.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F      // CJK punctuation
        | 0x3400..=0x4DBF    // extension A
        | 0x4E00..=0x9FFF    // unified ideographs
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x3134F) // extensions B-G
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn tidy_joins_chinese_and_keeps_latin_spaces() {
        assert_eq!(
            tidy("扫 描 件 ： 采 购 合 同\n\n\n合 同 编 号 HT-2023-0815\n  SCANNED DOCUMENT  \n\u{c}"),
            "扫描件：采购合同\n\n合同编号 HT-2023-0815\nSCANNED DOCUMENT"
        );
    }
}
