//! Plain text and Markdown samples: encodings, BOMs, line ends, Markdown structure.

use lexinaut_extract::{extract_file, ExtractError, Limits};

use crate::support::{assert_contains, sample, samples_dir, BAIRUN, BEIDOU, REIT};

#[test]
fn utf8_variants_decode_to_the_same_text() {
    let Some(plain) = sample("zh_utf8.txt") else {
        return;
    };
    let bom = sample("zh_utf8_bom.txt").expect("sample");
    let crlf = sample("zh_utf8_crlf.txt").expect("sample");
    assert_eq!(plain.text.lines().next(), Some("经营简报（样例）"));
    assert_contains(&plain.text, BAIRUN);
    assert_contains(&plain.text, REIT);
    assert!(!bom.text.starts_with('\u{feff}'));
    assert_eq!(bom.text, plain.text);
    assert_eq!(crlf.text, plain.text);
    assert!(!crlf.text.contains('\r'));
}

#[test]
fn gbk_and_gb18030_decode_without_loss() {
    let Some(gbk) = sample("zh_gbk.txt") else {
        return;
    };
    assert_eq!(gbk.text.lines().next(), Some("GBK编码样例"));
    assert_contains(&gbk.text, BEIDOU);
    assert_contains(&gbk.text, BAIRUN);
    let gb18030 = sample("zh_gb18030.txt").expect("sample");
    assert_eq!(gb18030.text.lines().next(), Some("GB18030编码样例"));
    assert_contains(&gb18030.text, REIT);
    assert!(
        gb18030.text.contains('𠮷'),
        "U+20BB7 lost: {}",
        gb18030.text
    );
    assert!(gb18030.warnings.is_empty(), "{:?}", gb18030.warnings);
}

#[test]
fn english_text() {
    let Some(x) = sample("en_business.txt") else {
        return;
    };
    assert_eq!(
        x.text.lines().next(),
        Some("Northwind Trading Co. - Q2 2023 Operations Review")
    );
    assert_contains(&x.text, "revenue of USD 4.82 million");
    assert_contains(&x.text, "expires on 30 September 2023");
}

#[test]
fn markdown_keeps_text_table_rows_code_and_headings() {
    let Some(x) = sample("notes.md") else { return };
    assert_contains(&x.text, "2023年上半年经营分析");
    assert_contains(&x.text, "CODE-BLOCK-MARKER-42");
    assert!(x.text.lines().any(|l| l.contains("华东")
        && l.contains("East China")
        && l.contains("1280.50")
        && l.contains("15.2%")));
    assert!(!x.text.contains("**") && !x.text.contains("```"));
}

#[test]
fn png_renamed_to_txt_is_refused_as_binary() {
    let Some(dir) = samples_dir() else { return };
    let path = dir.join("bad/binary_png_renamed.txt");
    let err = extract_file(&path, &Limits::default()).err();
    assert!(matches!(err, Some(ExtractError::Binary { .. })), "{err:?}");
    assert!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("binary_png_renamed.txt"));
}
