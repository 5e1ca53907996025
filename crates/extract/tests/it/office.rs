//! Zip-based office formats (DOCX, PPTX, ODT, EPUB, XLSX) and XLS: the EXPECTED.md facts of
//! the shared samples, zip bombs, encrypted and mislabelled files, and damaged archives.

use std::io::{Cursor, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use lexinaut_extract::{
    extract_bytes, extract_bytes_with, extract_file, ExtractError, Extracted, Format, Limits,
};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::support::{
    assert_contains, page_text, sample, samples_dir, squash, BAIRUN, EN_ACTION, EN_PRIORITIES,
    EN_REVIEW, REIT,
};

/// Char offset of `needle` in `text` (whitespace-sensitive), panicking if absent.
#[track_caller]
fn offset_of(text: &str, needle: &str) -> usize {
    let byte = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not found in:\n{text}"));
    text[..byte].chars().count()
}

/// Asserts the needles occur in this order in `text`.
#[track_caller]
fn assert_in_order(text: &str, needles: &[&str]) {
    let offsets: Vec<usize> = needles.iter().map(|n| offset_of(text, n)).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "out of order {offsets:?} for {needles:?} in:\n{text}"
    );
}

fn headings(x: &Extracted) -> Vec<(u8, &str)> {
    x.headings
        .iter()
        .map(|h| (h.level, h.title.as_str()))
        .collect()
}

fn labels(x: &Extracted) -> Vec<(u32, Option<&str>)> {
    x.pages
        .iter()
        .map(|p| (p.number, p.label.as_deref()))
        .collect()
}

/// A zip archive of `(name, bytes)` members, deflated.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in members {
        writer.start_file(*name, options).expect("start member");
        writer.write_all(bytes).expect("write member");
    }
    writer.finish().expect("finish zip").into_inner()
}

fn minimal_docx(paragraph: &str) -> Vec<u8> {
    let document = format!(
        r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p></w:body></w:document>"#
    );
    zip_of(&[("word/document.xml", document.as_bytes())])
}

#[test]
fn report_docx_keeps_paragraphs_table_and_headings_in_order() {
    let Some(x) = sample("report.docx") else {
        return;
    };
    assert_eq!(x.format, Format::Docx);
    assert_eq!(x.title.as_deref(), Some("2023年上半年经营分析报告"));
    assert_in_order(
        &x.text,
        &[
            "2023年上半年经营分析报告",
            BAIRUN,
            "Operations Review",
            EN_REVIEW,
            EN_PRIORITIES,
            "地区 | Region | Q2营收(万元) | 同比增长",
            "地区: 华东 | Region: East China | Q2营收(万元): 1280.50 | 同比增长: 15.2%",
            "地区: 华南 | Region: South China | Q2营收(万元): 964.00 | 同比增长: 9.8%",
            "地区: 华北 | Region: North China | Q2营收(万元): 731.25 | 同比增长: -2.1%",
            "表格之后的段落：DOCX-END-MARKER",
        ],
    );
    assert_eq!(
        headings(&x),
        vec![(1, "2023年上半年经营分析报告"), (2, "Operations Review")]
    );
    let marker = offset_of(&x.text, "DOCX-END-MARKER");
    assert_eq!(
        x.heading_path(marker),
        vec!["2023年上半年经营分析报告", "Operations Review"]
    );
    assert!(x.pages.is_empty());
}

#[test]
fn slides_pptx_has_one_page_per_slide_with_titles_and_notes() {
    let Some(x) = sample("slides.pptx") else {
        return;
    };
    assert_eq!(
        labels(&x),
        vec![
            (1, Some("第一张：半年报概览")),
            (2, Some("Slide 2: Operations")),
            (3, Some("第三张：下一步计划")),
        ]
    );
    assert_eq!(
        headings(&x),
        vec![
            (1, "第一张：半年报概览"),
            (1, "Slide 2: Operations"),
            (1, "第三张：下一步计划")
        ]
    );
    let slide1 = page_text(&x, 1);
    assert!(slide1.starts_with("第一张：半年报概览"), "{slide1}");
    assert_contains(&slide1, BAIRUN);

    let slide2 = page_text(&x, 2);
    assert!(slide2.starts_with("Slide 2: Operations"), "{slide2}");
    assert_in_order(
        &slide2,
        &[
            EN_REVIEW,
            "Notes:",
            "Speaker notes: mention the Hangzhou lease (NOTES-MARKER).",
        ],
    );

    let slide3 = page_text(&x, 3);
    let body = slide3
        .strip_prefix("第三张：下一步计划")
        .expect("slide 3 starts with its title")
        .trim_start();
    assert!(body.starts_with("合同档案迁移；杭州办公室续租。"), "{body}");
    assert!(body.ends_with(EN_ACTION), "{body}");

    for (page, text) in [(1, &slide1), (3, &slide3)] {
        assert!(
            !text.contains("NOTES-MARKER"),
            "notes leaked onto slide {page}"
        );
        assert!(!text.contains("Notes:"), "notes label on slide {page}");
    }
    assert_eq!(x.title.as_deref(), Some("LexiNaut slides sample"));
}

#[test]
fn document_odt_has_heading_and_paragraphs() {
    let Some(x) = sample("document.odt") else {
        return;
    };
    assert_in_order(
        &x.text,
        &["华夏越秀高速REIT二季报摘要", REIT, EN_PRIORITIES],
    );
    assert_eq!(headings(&x), vec![(1, "华夏越秀高速REIT二季报摘要")]);
    assert!(
        x.text.starts_with("华夏越秀高速REIT二季报摘要\n\n"),
        "{}",
        x.text
    );
}

#[test]
fn book_epub_has_chapters_in_spine_order_as_pages() {
    let Some(x) = sample("book.epub") else { return };
    assert_eq!(x.title.as_deref(), Some("知识库样例电子书"));
    // The navigation document (a table of contents) is not a chapter.
    assert_eq!(
        labels(&x),
        vec![
            (1, Some("第一章 半年报")),
            (2, Some("Chapter 2 Operations"))
        ]
    );
    let chapter1 = page_text(&x, 1);
    let chapter2 = page_text(&x, 2);
    assert!(chapter1.starts_with("第一章 半年报"), "{chapter1}");
    assert_contains(&chapter1, BAIRUN);
    assert!(chapter2.starts_with("Chapter 2 Operations"), "{chapter2}");
    assert_contains(&chapter2, EN_REVIEW);
    assert!(!squash(&chapter2).contains(&squash(BAIRUN)));
    assert_eq!(
        headings(&x),
        vec![(1, "第一章 半年报"), (1, "Chapter 2 Operations")]
    );
    assert_eq!(
        x.text.matches("第一章 半年报").count(),
        1,
        "TOC text indexed: {}",
        x.text
    );
}

fn check_workbook(x: &Extracted) {
    assert_eq!(
        labels(x),
        vec![(1, Some("销售数据")), (2, Some("Contacts"))]
    );
    let sales = page_text(x, 1);
    let lines: Vec<&str> = sales.lines().collect();
    assert_eq!(
        lines,
        vec![
            "地区 | Region | Q2营收(万元) | 同比增长",
            "地区: 华东 | Region: East China | Q2营收(万元): 1280.5 | 同比增长: 15.2%",
            "地区: 华南 | Region: South China | Q2营收(万元): 964 | 同比增长: 9.8%",
            "地区: 华北 | Region: North China | Q2营收(万元): 731.25 | 同比增长: -2.1%",
        ]
    );
    let contacts = page_text(x, 2);
    let zhang = contacts
        .lines()
        .find(|l| l.contains("张伟"))
        .unwrap_or_else(|| panic!("no 张伟 row in {contacts}"));
    assert_eq!(
        zhang,
        "Name: Zhang Wei | 姓名: 张伟 | Email: zhang.wei@example.com | Phone: +86 21 5555 0101"
    );
    assert!(
        !x.text.contains("964.0") && !x.text.contains("1280.50"),
        "{}",
        x.text
    );
}

#[test]
fn workbook_xlsx_has_a_page_per_sheet_with_labelled_rows() {
    let Some(x) = sample("workbook.xlsx") else {
        return;
    };
    assert_eq!(x.format, Format::Xlsx);
    check_workbook(&x);
}

#[test]
fn workbook_xls_reads_like_the_xlsx() {
    let Some(x) = sample("workbook.xls") else {
        return;
    };
    assert_eq!(x.format, Format::Xls);
    check_workbook(&x);
    let xlsx = sample("workbook.xlsx").expect("sample");
    assert_eq!(x.text, xlsx.text);
}

#[test]
fn workbooks_under_the_wrong_extension_are_read_by_content() {
    let Some(dir) = samples_dir() else { return };
    let xls = std::fs::read(dir.join("workbook.xls")).expect("read sample");
    let as_xlsx =
        extract_bytes(Path::new("misnamed.xlsx"), Format::Xlsx, &xls).expect("reads .xls bytes");
    check_workbook(&as_xlsx);
    let xlsx = std::fs::read(dir.join("workbook.xlsx")).expect("read sample");
    let as_xls =
        extract_bytes(Path::new("misnamed.xls"), Format::Xls, &xlsx).expect("reads .xlsx bytes");
    check_workbook(&as_xls);
}

#[test]
fn random_zip_named_docx_is_corrupt() {
    let Some(dir) = samples_dir() else { return };
    let err = extract_file(&dir.join("bad/random_zip.docx"), &Limits::default()).err();
    let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(err, Some(ExtractError::Corrupt { .. })), "{err:?}");
    assert!(message.contains("random_zip.docx"), "{message}");
    assert!(message.contains("word/document.xml"), "{message}");
}

#[test]
fn zip_bomb_docx_is_refused_without_inflating() {
    let Some(dir) = samples_dir() else { return };
    let started = Instant::now();
    let err = extract_file(&dir.join("bad/zipbomb_100mb.docx"), &Limits::default()).err();
    let elapsed = started.elapsed();
    match &err {
        Some(ExtractError::Inflation { member, .. }) => assert_eq!(member, "word/document.xml"),
        other => panic!("expected Inflation, got {other:?}"),
    }
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("zipbomb_100mb.docx"), "{message}");
    assert!(
        elapsed < Duration::from_secs(2),
        "took {elapsed:?}: it inflated"
    );

    // Even with limits generous enough for its size, the 700:1 ratio gives it away.
    let generous = Limits {
        max_entry_bytes: 1 << 30,
        max_inflated_bytes: 1 << 31,
        ..Limits::default()
    };
    let started = Instant::now();
    let err = extract_file(&dir.join("bad/zipbomb_100mb.docx"), &generous).err();
    assert!(
        matches!(err, Some(ExtractError::Inflation { .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn crafted_members_over_custom_limits_are_refused() {
    let text = "Lorem ipsum dolor sit amet. ".repeat(400); // ~11 KB, compresses well under 100:1
    let docx = minimal_docx(&text);
    let path = Path::new("crafted.docx");

    let ok = extract_bytes(path, Format::Docx, &docx).expect("default limits admit it");
    assert_eq!(ok.text, text.trim());

    let small_entry = Limits {
        max_entry_bytes: 4096,
        ..Limits::default()
    };
    match extract_bytes_with(path, Format::Docx, &docx, &small_entry) {
        Err(ExtractError::Inflation { member, limit, .. }) => {
            assert_eq!(member, "word/document.xml");
            assert_eq!(limit, 4096);
        }
        other => panic!("expected Inflation, got {other:?}"),
    }

    let two = zip_of(&[
        ("word/document.xml", &[b' '; 3000]),
        ("word/styles.xml", &[b' '; 3000]),
    ]);
    let small_total = Limits {
        max_entry_bytes: 4096,
        max_inflated_bytes: 5000,
        ..Limits::default()
    };
    match extract_bytes_with(path, Format::Docx, &two, &small_total) {
        Err(ExtractError::Inflation { limit, .. }) => assert_eq!(limit, 5000),
        other => panic!("expected Inflation, got {other:?}"),
    }
}

#[test]
fn a_header_that_understates_the_size_cannot_inflate_past_it() {
    let body = "A".repeat(200_000);
    let mut docx = minimal_docx(&body);
    // Claim 100 bytes in the local header (offset 22) and the central directory entry (24).
    let claim = 100u32.to_le_bytes();
    let local = find(&docx, b"PK\x03\x04").expect("local header");
    let central = find(&docx, b"PK\x01\x02").expect("central header");
    docx[local + 22..local + 26].copy_from_slice(&claim);
    docx[central + 24..central + 28].copy_from_slice(&claim);
    let result = extract_bytes(Path::new("liar.docx"), Format::Docx, &docx);
    assert!(
        matches!(
            result,
            Err(ExtractError::Corrupt { .. } | ExtractError::Inflation { .. })
        ),
        "{result:?}"
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An OLE2 compound file holding the given streams.
fn compound_file(streams: &[&str]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create cfb");
    for name in streams {
        let mut stream = file.create_stream(name).expect("create stream");
        stream
            .write_all(b"\x04\x00\x04\x00\x40\x00\x00\x00")
            .expect("write stream");
    }
    file.flush().expect("flush cfb");
    file.into_inner().into_inner()
}

#[test]
fn encrypted_ooxml_is_reported_as_password_protected() {
    let encrypted = compound_file(&["/EncryptionInfo", "/EncryptedPackage"]);
    for (name, format) in [
        ("secret.docx", Format::Docx),
        ("secret.pptx", Format::Pptx),
        ("secret.xlsx", Format::Xlsx),
    ] {
        let err = extract_bytes(Path::new(name), format, &encrypted).err();
        assert!(
            matches!(err, Some(ExtractError::Encrypted { .. })),
            "{name}: {err:?}"
        );
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains(name));
    }
}

#[test]
fn legacy_office_file_under_a_new_extension_says_so() {
    let Some(dir) = samples_dir() else { return };
    let doc = std::fs::read(dir.join("report.doc")).expect("read sample");
    let err = extract_bytes(Path::new("report.docx"), Format::Docx, &doc).err();
    assert!(matches!(err, Some(ExtractError::Corrupt { .. })), "{err:?}");
    assert!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains(".doc"));
}

#[test]
fn non_zip_bytes_are_corrupt_for_every_zip_format() {
    for format in [
        Format::Docx,
        Format::Pptx,
        Format::Odt,
        Format::Epub,
        Format::Xlsx,
        Format::Xls,
    ] {
        let name = format!("junk.{}", format.name());
        let err = extract_bytes(Path::new(&name), format, b"definitely not an archive").err();
        assert!(
            matches!(err, Some(ExtractError::Corrupt { .. })),
            "{name}: {err:?}"
        );
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains(&name));
    }
}

#[test]
fn missing_main_parts_are_named() {
    let empty_zip = zip_of(&[("readme.txt", b"hello")]);
    for (format, part) in [
        (Format::Docx, "word/document.xml"),
        (Format::Pptx, "ppt/presentation.xml"),
        (Format::Odt, "content.xml"),
        (Format::Epub, "container.xml"),
    ] {
        let err = extract_bytes(Path::new("x.zip"), format, &empty_zip).err();
        let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            matches!(err, Some(ExtractError::Corrupt { .. })),
            "{format:?}: {err:?}"
        );
        assert!(message.contains(part), "{format:?}: {message}");
    }
}

/// Truncations and byte flips of every sample must give a result or an error, never a panic.
#[test]
fn damaged_samples_never_panic() {
    let Some(dir) = samples_dir() else { return };
    let mut next = crate::support::xorshift(0x2545_F491_4F6C_DD1D);
    for (name, format) in [
        ("report.docx", Format::Docx),
        ("slides.pptx", Format::Pptx),
        ("document.odt", Format::Odt),
        ("book.epub", Format::Epub),
        ("workbook.xlsx", Format::Xlsx),
        ("workbook.xls", Format::Xls),
    ] {
        let original = std::fs::read(dir.join(name)).expect("read sample");
        let path = Path::new(name);
        for cut in 1..16 {
            let len = original.len() * cut / 16;
            let _ = extract_bytes(path, format, &original[..len]);
        }
        for _ in 0..24 {
            let mut damaged = original.clone();
            for _ in 0..8 {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] ^= (next() % 255 + 1) as u8;
            }
            let _ = extract_bytes(path, format, &damaged);
        }
    }
}

/// calamine reserves what a sheet's DIMENSIONS record declares; a patched record asking for
/// billions of rows must be refused before calamine sees it.
#[test]
fn xls_dimensions_that_would_reserve_terabytes_are_refused() {
    let Some(dir) = samples_dir() else { return };
    let original = std::fs::read(dir.join("workbook.xls")).expect("read sample");
    let record = find(&original, b"\x00\x02\x0e\x00").expect("a DIMENSIONS record");
    // Fields after the 4-byte record header: first row u32, last row u32, first col, last col.
    for (field, value) in [(4, 0xFFFF_FF00u32), (0, 10)] {
        let mut patched = original.clone();
        let at = record + 4 + field;
        patched[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let err = extract_bytes(Path::new("huge.xls"), Format::Xls, &patched).err();
        assert!(
            matches!(err, Some(ExtractError::Inflation { .. })),
            "{err:?}"
        );
    }
}

/// calamine reserves `uniqueCount` strings up front; a count the part cannot hold is a lie.
#[test]
fn xlsx_shared_string_count_beyond_the_part_is_refused() {
    let Some(dir) = samples_dir() else { return };
    let original = std::fs::read(dir.join("workbook.xlsx")).expect("read sample");
    let mut archive = zip::ZipArchive::new(Cursor::new(original)).expect("sample is a zip");
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).expect("member");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut bytes).expect("inflate member");
        let name = member.name().expect("member name").into_owned();
        members.push((name, bytes));
    }
    let sst = br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="99999999999999"><si><t>x</t></si></sst>"#;
    members.push(("xl/sharedStrings.xml".to_owned(), sst.to_vec()));
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    let err = extract_bytes(Path::new("lying.xlsx"), Format::Xlsx, &zip_of(&refs)).err();
    let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(err, Some(ExtractError::Corrupt { .. })), "{err:?}");
    assert!(message.contains("sharedStrings.xml"), "{message}");
}
