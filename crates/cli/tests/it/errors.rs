//! Failures: a knowledge base that does not exist, and bad arguments. Errors go to stderr,
//! stdout stays empty so scripts never parse half a result.

use crate::support::{stderr, Sandbox};

#[test]
fn unknown_kb_fails_naming_it_with_empty_stdout() {
    let s = Sandbox::new();
    s.create_kb("存在的库");
    let docs = s.docs();
    s.write_samples();
    let docs = docs.to_string_lossy();
    let commands: [&[&str]; 3] = [
        &["search", "茶", "--kb", "不存在的库", "--json"],
        &["ingest", "--kb", "不存在的库", "--json", &docs],
        &["docs", "list", "--kb", "不存在的库", "--json"],
    ];
    for args in commands {
        let out = s.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: stdout {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = stderr(&out);
        assert!(
            err.contains("不存在的库") && err.contains("not found"),
            "{args:?}: {err}"
        );
    }
    let out = s.run(["ingest", "--kb", "不存在的库", &docs]);
    assert!(
        stderr(&out).contains("kb create"),
        "ingest suggests creating it: {}",
        stderr(&out)
    );
    assert_eq!(
        s.json(["docs", "list", "--kb", "存在的库", "--json"]),
        serde_json::json!([]),
        "nothing was imported anywhere"
    );
}

#[test]
fn missing_arguments_are_a_usage_error() {
    let s = Sandbox::new();
    let out = s.run(["search", "茶"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage exit code");
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("--kb"), "{}", stderr(&out));
}
