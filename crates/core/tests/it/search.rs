//! Keyword search: hit fields and order, pasted phrases, limits and errors, and chunk spans
//! that point back into the extracted text.

use std::collections::{BTreeMap, HashMap, HashSet};

use lexinaut_core::{ChunkSpec, CoreError, Hit, MAX_SEARCH_K};

use crate::support::{char_span, shown, TestLibrary, SAMPLES};

#[tokio::test]
async fn hits_carry_location_and_come_best_first() {
    let t = TestLibrary::open().await;
    let kb = t.kb("检索").await;
    let paths = t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let panda = t.doc(kb.id, &paths[1]).await;

    let hits = t.search(kb.id, "大熊猫 竹子", 10).await;
    assert!(!hits.is_empty());
    assert_eq!(hits[0].path, panda.path, "{hits:#?}");
    assert_eq!(hits[0].document_id, panda.id);
    assert!(hits[0].text.contains("大熊猫"), "{:?}", hits[0].text);
    assert_sane(&hits);

    // A word found in several documents: each hit is a distinct chunk, best first.
    let hits = t.search(kb.id, "中国", 10).await;
    let docs: HashSet<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert!(docs.len() >= 4, "{hits:#?}");
    assert_sane(&hits);
}

/// Every hit has a location and a positive score; scores do not rise; chunks are distinct.
fn assert_sane(hits: &[Hit]) {
    let mut chunk_ids = HashSet::new();
    for h in hits {
        assert!(!h.path.is_empty(), "{h:?}");
        assert!(h.chunk_id > 0 && h.document_id > 0, "{h:?}");
        assert!(!h.text.trim().is_empty(), "{h:?}");
        assert!(h.score.is_finite() && h.score > 0.0, "{h:?}");
        assert_eq!(h.page, None, "text and Markdown have no pages: {h:?}");
        assert!(0 <= h.start_char && h.start_char < h.end_char, "{h:?}");
        assert!(chunk_ids.insert(h.chunk_id), "chunk {} twice", h.chunk_id);
    }
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "not best first: {pair:#?}");
    }
    let json = serde_json::to_value(&hits[0]).expect("serialize");
    for field in ["path", "chunk_id", "text", "score"] {
        assert!(!json[field].is_null(), "{field} in {json}");
    }
    assert!(
        json.get("page").is_some_and(serde_json::Value::is_null),
        "{json}"
    );
}

#[tokio::test]
async fn phrase_from_the_middle_of_a_document_finds_it_first() {
    let t = TestLibrary::open().await;
    let default_kb = t.kb("默认分块").await;
    let small_kb = t
        .lib
        .create_kb_with("小分块", ChunkSpec::chars(48, 16))
        .await
        .expect("kb");
    let paths = t.write_samples();
    for kb in [&default_kb, &small_kb] {
        t.ingest(kb.id, &[t.docs_dir()]).await;
    }

    for path in &paths {
        let text = lexinaut_core::extract_file(path, t.lib.config())
            .await
            .expect("extract")
            .text;
        let chars: Vec<char> = text.chars().collect();
        // 16 characters: within the small kb's overlap, so one chunk holds the whole phrase.
        let start = chars.len() / 2 - 8;
        let phrase: String = chars[start..start + 16].iter().collect();
        for kb in [&default_kb, &small_kb] {
            let hits = t.search(kb.id, &phrase, 5).await;
            let top = hits
                .first()
                .unwrap_or_else(|| panic!("{}: no hit for {phrase:?}", kb.name));
            assert_eq!(
                top.path,
                shown(path),
                "{}: {phrase:?} -> {hits:#?}",
                kb.name
            );
            let squash = |s: &str| s.split_whitespace().collect::<String>();
            assert!(
                squash(&top.text).contains(&squash(&phrase)),
                "{}: top hit lacks {phrase:?}: {:?}",
                kb.name,
                top.text
            );
        }
    }
}

#[tokio::test]
async fn k_out_of_range_is_invalid_input() {
    let t = TestLibrary::open().await;
    let kb = t.kb("参数").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    for k in [0, MAX_SEARCH_K + 1] {
        let result = t.lib.search(kb.id, "围棋", k).await;
        match result {
            Err(CoreError::InvalidInput(msg)) => assert!(msg.contains(&k.to_string()), "{msg}"),
            other => panic!("k={k}: expected InvalidInput, got {other:?}"),
        }
    }
    assert!(!t.search(kb.id, "围棋", MAX_SEARCH_K).await.is_empty());
}

#[tokio::test]
async fn k_limits_the_hits() {
    let t = TestLibrary::open().await;
    let kb = t.kb("数量").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let many = t.search(kb.id, "中国", 10).await;
    assert!(many.len() >= 3, "{many:#?}");
    for k in [1, 2, 3] {
        let few = t.search(kb.id, "中国", k).await;
        assert_eq!(few.len(), k as usize);
        let ids = |h: &[Hit]| h.iter().map(|h| h.chunk_id).collect::<Vec<_>>();
        assert_eq!(ids(&few), ids(&many[..k as usize]), "k={k}");
    }
}

#[tokio::test]
async fn search_in_missing_kb_is_not_found() {
    let t = TestLibrary::open().await;
    let result = t.lib.search(31_337, "围棋", 5).await;
    assert!(matches!(result, Err(CoreError::NotFound(_))), "{result:?}");
}

#[tokio::test]
async fn queries_without_matching_words_return_nothing() {
    let t = TestLibrary::open().await;
    let kb = t.kb("空").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    for query in ["", "   ", "，。！？……", "潜水艇", "\"OR\" AND NOT *"] {
        let hits = t.search(kb.id, query, 5).await;
        assert!(hits.is_empty(), "{query:?}: {hits:#?}");
    }
}

#[tokio::test]
async fn hit_spans_are_the_chunk_text_in_the_extracted_text() {
    let t = TestLibrary::open().await;
    let kb = t
        .lib
        .create_kb_with("分块", ChunkSpec::chars(40, 10))
        .await
        .expect("kb");
    let paths = t.write_samples();
    let summary = t.ingest(kb.id, &[t.docs_dir()]).await;
    assert!(summary.chunks as usize > 2 * SAMPLES.len(), "{summary:?}");

    let mut extracted = HashMap::new();
    for p in &paths {
        let x = lexinaut_core::extract_file(p, t.lib.config())
            .await
            .expect("extract");
        extracted.insert(shown(p), x.text);
    }
    // A query made of every sample's words reaches every chunk.
    let everything: String = SAMPLES.iter().map(|(_, text)| *text).collect();
    let hits = t.search(kb.id, &everything, MAX_SEARCH_K).await;
    assert_eq!(hits.len(), summary.chunks as usize, "every chunk is a hit");

    let mut spans: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for h in &hits {
        let text = &extracted[&h.path];
        assert_eq!(
            h.text,
            char_span(text, h.start_char, h.end_char),
            "chunk {} of {} [{}, {})",
            h.chunk_id,
            h.path,
            h.start_char,
            h.end_char
        );
        assert!(h.end_char - h.start_char <= 40, "{h:?}");
        spans
            .entry(h.path.as_str())
            .or_default()
            .push((h.start_char, h.end_char));
    }
    // Together the chunks cover each document from its first to its last character.
    for (path, mut s) in spans {
        s.sort_unstable();
        let len = extracted[path].chars().count() as i64;
        assert_eq!(s.first().map(|s| s.0), Some(0), "{path}");
        assert_eq!(s.last().map(|s| s.1), Some(len), "{path}");
        for pair in s.windows(2) {
            assert!(pair[1].0 <= pair[0].1, "gap in {path}: {pair:?}");
        }
    }
}
