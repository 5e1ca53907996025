//! `lexinaut extract` and `lexinaut doctor`.

use crate::support::{shown, stderr, stdout_json, Sandbox};

#[test]
fn extract_json_has_text_format_and_pages() {
    let s = Sandbox::new();
    let md = s.write(
        "长城.md",
        "# 长城简史\n\n长城是**古代中国**的军事防御工程。\n\n- 秦朝\n- 明朝\n",
    );
    let x = s.json(["extract".as_ref(), md.as_os_str(), "--json".as_ref()]);
    assert_eq!(x["path"], shown(&md));
    assert_eq!(x["format"], "markdown");
    assert_eq!(x["encoding"], "UTF-8");
    assert_eq!(
        x["text"],
        "长城简史\n\n长城是古代中国的军事防御工程。\n\n秦朝\n明朝"
    );
    assert_eq!(x["pages"], serde_json::json!([]), "text has no pages");
    assert!(x["warnings"].is_array());
    assert!(!s.data_dir().exists(), "extract does not touch the library");
}

#[test]
fn extract_gbk_text_decodes_to_chinese() {
    let s = Sandbox::new();
    // "营业收入同比增长百分之十二，净利润创历史新高。" in GBK.
    let gbk: &[u8] = &[
        0xd3, 0xaa, 0xd2, 0xb5, 0xca, 0xd5, 0xc8, 0xeb, 0xcd, 0xac, 0xb1, 0xc8, 0xd4, 0xf6, 0xb3,
        0xa4, 0xb0, 0xd9, 0xb7, 0xd6, 0xd6, 0xae, 0xca, 0xae, 0xb6, 0xfe, 0xa3, 0xac, 0xbe, 0xbb,
        0xc0, 0xfb, 0xc8, 0xf3, 0xb4, 0xb4, 0xc0, 0xfa, 0xca, 0xb7, 0xd0, 0xc2, 0xb8, 0xdf, 0xa1,
        0xa3,
    ];
    let file = s.write("年报.txt", gbk);
    let x = s.json(["extract".as_ref(), file.as_os_str(), "--json".as_ref()]);
    assert_eq!(x["text"], "营业收入同比增长百分之十二，净利润创历史新高。");
    assert_eq!(x["encoding"], "gb18030");
}

#[test]
fn extract_of_a_missing_file_fails_naming_it() {
    let s = Sandbox::new();
    let missing = s.docs().join("没有.txt");
    let out = s.run(["extract".as_ref(), missing.as_os_str(), "--json".as_ref()]);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr(&out).contains("没有.txt"), "{}", stderr(&out));
}

#[test]
fn doctor_json_reports_data_dir_and_unconfigured_backends() {
    let s = Sandbox::new();
    s.create_kb("资料");
    s.write_samples();
    s.ingest("资料", &[&s.docs()]);

    let out = s.run(["doctor", "--json"]);
    crate::support::assert_success(&out);
    let report = stdout_json(&out);
    assert_eq!(report["data_dir"], shown(&s.data_dir()), "{report}");
    assert_eq!(
        report["catalogue"],
        shown(&s.data_dir().join("catalogue.sqlite3"))
    );
    assert!(report["version"].is_string() && report["sqlite_version"].is_string());
    assert_eq!(report["counts"]["knowledge_bases"], 1);
    assert_eq!(report["counts"]["documents"], 3);
    let backends = report["backends"].as_array().expect("backends");
    let names: Vec<&str> = backends.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["xinference", "chroma"]);
    for b in backends {
        assert_eq!(b["state"], "not_configured", "{b}");
        assert!(b["url"].is_null(), "{b}");
        assert!(b["version"].is_null(), "{b}");
        assert_eq!(b["models"], serde_json::json!([]), "{b}");
    }
}

#[test]
fn doctor_takes_the_data_dir_from_the_environment() {
    let s = Sandbox::new();
    let dir = s.docs().join("从环境变量");
    let out = s
        .bare_command()
        .args(["doctor", "--json"])
        .env("LEXINAUT_DATA_DIR", &dir)
        .output()
        .expect("run lexinaut");
    crate::support::assert_success(&out);
    assert_eq!(stdout_json(&out)["data_dir"], shown(&dir));
    assert!(dir.join("catalogue.sqlite3").is_file());
}

#[test]
fn doctor_probes_a_backend_configured_in_the_environment() {
    let s = Sandbox::new();
    // Port 9 (discard) on loopback: nothing listens, so the probe fails at once.
    let out = s
        .bare_command()
        .arg("--data-dir")
        .arg(s.data_dir())
        .args(["doctor", "--json"])
        .env("LEXINAUT_CHROMA_URL", "http://127.0.0.1:9")
        .output()
        .expect("run lexinaut");
    crate::support::assert_success(&out);
    let report = stdout_json(&out);
    let chroma = report["backends"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == "chroma"))
        .expect("chroma listed");
    assert_eq!(chroma["url"], "http://127.0.0.1:9", "{chroma}");
    assert_eq!(chroma["state"], "unreachable", "{chroma}");
    assert!(chroma["detail"].is_string(), "{chroma}");
}
