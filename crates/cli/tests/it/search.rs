//! `lexinaut search`.

use crate::support::{shown, stderr, Sandbox};

#[test]
fn search_json_hits_have_location_fields_best_first() {
    let s = Sandbox::new();
    s.create_kb("资料");
    let samples = s.write_samples();
    s.ingest("资料", &[&s.docs()]);

    let hits = s.json(["search", "大熊猫 竹子", "--kb", "资料", "-k", "3", "--json"]);
    let hits = hits.as_array().expect("array");
    assert!(!hits.is_empty() && hits.len() <= 3, "{hits:?}");
    assert_eq!(hits[0]["path"], shown(&samples[1]), "{hits:#?}");
    for h in hits {
        assert!(h["path"].is_string(), "{h}");
        assert!(h["chunk_id"].as_i64().is_some_and(|id| id > 0), "{h}");
        assert!(h["text"].as_str().is_some_and(|t| !t.is_empty()), "{h}");
        assert!(h["score"].as_f64().is_some_and(|x| x > 0.0), "{h}");
        assert!(h.get("page").is_some_and(serde_json::Value::is_null), "{h}");
    }
    assert!(hits[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("大熊猫")));
    let scores: Vec<f64> = hits.iter().filter_map(|h| h["score"].as_f64()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // -k bounds the number of hits.
    let one = s.json(["search", "中国", "--kb", "资料", "-k", "1", "--json"]);
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
}

#[test]
fn search_without_matches_prints_an_empty_array() {
    let s = Sandbox::new();
    s.create_kb("资料");
    s.write_samples();
    s.ingest("资料", &[&s.docs()]);
    assert_eq!(
        s.json(["search", "潜水艇", "--kb", "资料", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn search_with_k_zero_fails_with_a_reason() {
    let s = Sandbox::new();
    s.create_kb("资料");
    let out = s.run(["search", "茶", "--kb", "资料", "-k", "0", "--json"]);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(&out).contains("k must be between"),
        "{}",
        stderr(&out)
    );
}
