//! `lexinaut ingest`: the JSON summary, re-imports and `--strict`.

use std::path::Path;

use crate::support::{assert_success, shown, stdout_json, Sandbox, SAMPLES};

#[test]
fn ingest_json_summary_reports_counts_skips_and_failures() {
    let s = Sandbox::new();
    s.create_kb("资料");
    s.write_samples();
    let png = s.write("图片.png", b"\x89PNG\r\n\x1a\n\0\0\0");
    let empty = s.write("空白.txt", b"");
    let missing = s.docs().join("不存在.txt");

    let summary = s.ingest("资料", &[&s.docs(), &missing]);
    assert_eq!(summary["documents"], SAMPLES.len(), "{summary}");
    assert!(
        summary["chunks"]
            .as_u64()
            .is_some_and(|c| c >= SAMPLES.len() as u64),
        "{summary}"
    );
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(summary["unchanged"], 0);
    assert_eq!(summary["cancelled"], false);
    assert_eq!(
        summary["skipped_files"][0]["path"],
        shown(&png),
        "{summary}"
    );

    let failed = summary["failed"].as_array().expect("failed array");
    assert_eq!(failed.len(), 2, "{summary}");
    for f in failed {
        assert!(f["path"].is_string() && f["reason"].is_string(), "{f}");
    }
    let reason = |p: &Path| {
        failed
            .iter()
            .find(|f| f["path"] == shown(p))
            .and_then(|f| f["reason"].as_str())
            .unwrap_or_else(|| panic!("{} not in {summary}", p.display()))
            .to_owned()
    };
    assert!(reason(&empty).contains("empty"), "{}", reason(&empty));
    assert!(
        reason(&missing).contains("cannot open"),
        "{}",
        reason(&missing)
    );
}

#[test]
fn ingest_json_streams_progress_as_json_lines_on_stderr() {
    let s = Sandbox::new();
    s.create_kb("进度");
    for i in 0..300 {
        s.write(
            &format!("笔记{i:03}.txt"),
            format!("第{i}份笔记，记录进度。"),
        );
    }
    let docs = s.docs();
    let out = s.run([
        "ingest",
        "--kb",
        "进度",
        "--json",
        &docs.display().to_string(),
    ]);
    assert_success(&out);
    // stdout: the summary alone.
    let summary = stdout_json(&out);
    assert_eq!(summary["documents"], 300);
    // stderr: one JSON object a line for each progress message, the last one final.
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["type"] == "import"), "{lines:?}");
    let first = &lines[0];
    assert_eq!(first["total"], 300);
    assert!(
        first["bytes_total"].as_u64().is_some_and(|b| b > 0),
        "{first}"
    );
    let last = lines.last().expect("lines");
    assert_eq!(last["finished"], true);
    assert_eq!(last["processed"], 300);
    assert_eq!(last["bytes_processed"], first["bytes_total"]);
    assert!(
        last["files_per_second"].as_f64().is_some_and(|r| r > 0.0),
        "{last}"
    );
    assert!(
        last["elapsed_ms"].is_u64() && last["paused"] == false,
        "{last}"
    );
}

#[test]
fn reingest_reports_unchanged_files() {
    let s = Sandbox::new();
    s.create_kb("资料");
    s.write_samples();
    let first = s.ingest("资料", &[&s.docs()]);
    assert_eq!(first["documents"], SAMPLES.len());
    let again = s.ingest("资料", &[&s.docs()]);
    assert_eq!(again["documents"], 0, "{again}");
    assert_eq!(again["chunks"], 0, "{again}");
    assert_eq!(again["unchanged"], SAMPLES.len(), "{again}");
    assert_eq!(again["skipped"], SAMPLES.len(), "{again}");
}

#[test]
fn strict_exits_3_when_a_file_failed_and_0_otherwise() {
    let s = Sandbox::new();
    s.create_kb("严格");
    let samples = s.write_samples();
    let sample_args: Vec<&Path> = samples.iter().map(|p| p.as_path()).collect();
    let bad = s.write("坏/截图.txt", b"\x89PNG\r\n\x1a\n\0\0\0");

    let mut args = vec![
        "ingest".as_ref(),
        "--kb".as_ref(),
        "严格".as_ref(),
        "--strict".as_ref(),
    ];
    args.extend(sample_args.iter().map(|p| p.as_os_str()));
    args.push("--json".as_ref());
    let out = s.run(&args);
    assert_success(&out);
    assert_eq!(stdout_json(&out)["documents"], SAMPLES.len());

    let out = s.run([
        "ingest".as_ref(),
        "--kb".as_ref(),
        "严格".as_ref(),
        "--strict".as_ref(),
        "--json".as_ref(),
        bad.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout_json(&out);
    assert_eq!(summary["failed"][0]["path"], shown(&bad), "{summary}");
    assert!(
        summary["failed"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("binary")),
        "{summary}"
    );

    // Without --strict the same failure is reported but the exit status is 0.
    let out = s.run([
        "ingest".as_ref(),
        "--kb".as_ref(),
        "严格".as_ref(),
        "--json".as_ref(),
        bad.as_os_str(),
    ]);
    assert_success(&out);
    assert_eq!(
        stdout_json(&out)["failed"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn ingest_without_json_prints_a_readable_summary() {
    let s = Sandbox::new();
    s.create_kb("资料");
    s.write_samples();
    let out = s.run([
        "ingest".as_ref(),
        "--kb".as_ref(),
        "资料".as_ref(),
        s.docs().as_os_str(),
    ]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} documents indexed", SAMPLES.len())),
        "{text}"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_err());
}
