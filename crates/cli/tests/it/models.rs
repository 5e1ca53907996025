//! `lexinaut models` and `lexinaut doctor` against the real Xinference and Chroma servers that
//! `scripts/backends.sh start` runs (`LEXINAUT_TEST_*` variables; skipped without them unless
//! `LEXINAUT_TEST_REQUIRE_BACKENDS=1`).

use crate::support::{assert_success, stderr, stdout_json, Sandbox};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The live servers' URLs and the embedding model uid, or a skip note.
fn live() -> Option<(String, String, String)> {
    match (
        env("LEXINAUT_TEST_XINFERENCE_URL"),
        env("LEXINAUT_TEST_CHROMA_URL"),
        env("LEXINAUT_TEST_EMBED_MODEL"),
    ) {
        (Some(x), Some(c), Some(m)) => Some((x, c, m)),
        _ => {
            assert!(
                env("LEXINAUT_TEST_REQUIRE_BACKENDS").as_deref() != Some("1"),
                "LEXINAUT_TEST_REQUIRE_BACKENDS=1 but the LEXINAUT_TEST_* server variables are unset"
            );
            eprintln!("skip: LEXINAUT_TEST_XINFERENCE_URL/CHROMA_URL/EMBED_MODEL not set");
            None
        }
    }
}

#[test]
fn models_list_shows_the_running_models() {
    let Some((xinference, _, embed)) = live() else {
        return;
    };
    let s = Sandbox::new();
    let out = s
        .bare_command()
        .args(["models", "list", "--json"])
        .env("LEXINAUT_XINFERENCE_URL", &xinference)
        .output()
        .expect("run lexinaut");
    assert_success(&out);
    let models = stdout_json(&out);
    let embedding = models
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == embed.as_str()))
        .unwrap_or_else(|| panic!("{embed} not listed: {models}"));
    assert_eq!(embedding["model_type"], "embedding");
    assert_eq!(embedding["dimensions"], 384);

    let out = s
        .bare_command()
        .args(["models", "list"])
        .env("LEXINAUT_XINFERENCE_URL", &xinference)
        .output()
        .expect("run lexinaut");
    assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&embed) && l.contains("embedding")),
        "{table}"
    );
}

#[test]
fn models_without_a_server_says_how_to_configure_one() {
    let s = Sandbox::new();
    let out = s.run(["models", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("LEXINAUT_XINFERENCE_URL"),
        "{}",
        stderr(&out)
    );

    // Port 9 (discard) on loopback: nothing listens.
    let out = s
        .bare_command()
        .args(["models", "terminate", "x"])
        .env("LEXINAUT_XINFERENCE_URL", "http://127.0.0.1:9")
        .output()
        .expect("run lexinaut");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
}

#[test]
fn doctor_reports_versions_models_and_collections() {
    let Some((xinference, chroma, embed)) = live() else {
        return;
    };
    let s = Sandbox::new();
    let out = s
        .bare_command()
        .arg("--data-dir")
        .arg(s.data_dir())
        .args(["doctor", "--json"])
        .env("LEXINAUT_XINFERENCE_URL", &xinference)
        .env("LEXINAUT_CHROMA_URL", &chroma)
        .output()
        .expect("run lexinaut");
    assert_success(&out);
    let report = stdout_json(&out);
    let backend = |name: &str| {
        report["backends"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {report}"))
    };
    let x = backend("xinference");
    assert_eq!(x["state"], "reachable", "{x}");
    assert!(
        x["version"].as_str().is_some_and(|v| v.starts_with('4')),
        "{x}"
    );
    assert!(
        x["models"].as_array().is_some_and(|m| m
            .iter()
            .any(|m| m["uid"] == embed.as_str() && m["model_type"] == "embedding")),
        "{x}"
    );
    let c = backend("chroma");
    assert_eq!(c["state"], "reachable", "{c}");
    assert!(c["version"].is_string() && c["collections"].is_u64(), "{c}");
}
