//! PDF, Word 97-2003 and PowerPoint 97-2003 readers against the shared samples (EXPECTED.md)
//! and against hostile bytes written by the tests.

use std::path::Path;
use std::process::Command;

use lexinaut_extract::{extract_bytes, extract_file, ExtractError, Format, Limits};

use crate::support::{
    assert_contains, page_text, sample, samples_dir, squash, BAIRUN, BEIDOU, EN_ACTION, EN_REVIEW,
    REIT,
};

/// True when both OCR tools and the chi_sim + eng language data are installed.
fn ocr_available() -> bool {
    let pdftoppm = Command::new("pdftoppm").arg("-v").output().is_ok();
    let langs = Command::new("tesseract").arg("--list-langs").output();
    let langs = match langs {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => return false,
    };
    let has = |l: &str| langs.lines().any(|line| line.trim() == l);
    pdftoppm && has("chi_sim") && has("eng")
}

fn extract_sample_err(name: &str) -> Option<ExtractError> {
    let path = samples_dir()?.join(name);
    match extract_file(&path, &Limits::default()) {
        Ok(x) => panic!(
            "{name}: expected an error, got {} chars, {} pages",
            x.text.len(),
            x.pages.len()
        ),
        Err(e) => Some(e),
    }
}

#[test]
fn pdf_text_zh_single_page() {
    let Some(x) = sample("text_zh.pdf") else {
        return;
    };
    assert_eq!(x.format, Format::Pdf);
    assert_eq!(x.pages.len(), 1);
    assert_eq!(x.pages[0].number, 1);
    assert!(x.pages_needing_ocr.is_empty(), "{:?}", x.pages_needing_ocr);
    assert!(!x.text.contains('\0'));
    let page = page_text(&x, 1);
    assert_contains(&page, "百润股份2023年半年度报告摘要");
    assert_contains(&page, BAIRUN);
    assert_contains(&page, "English: Revenue grew 59.2% year over year.");
}

#[test]
fn pdf_multi_page_markers_stay_on_their_page() {
    let Some(x) = sample("multi_page.pdf") else {
        return;
    };
    let numbers: Vec<u32> = x.pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert!(x.pages_needing_ocr.is_empty());
    let expected = [
        ("第一页：百润股份半年报", BAIRUN, "PAGE-ONE-MARKER"),
        ("第二页：华夏越秀高速REIT二季报", REIT, "PAGE-TWO-MARKER"),
        ("第三页：北斗星通资产出售", BEIDOU, "PAGE-THREE-MARKER"),
    ];
    let markers = expected.map(|e| e.2);
    for (i, (title, excerpt, marker)) in expected.iter().enumerate() {
        let n = i as u32 + 1;
        let page = page_text(&x, n);
        assert_contains(&page, title);
        assert_contains(&page, excerpt);
        assert_contains(&page, marker);
        assert_contains(&page, &format!("第{n}页/共3页"));
        for other in markers.iter().filter(|m| *m != marker) {
            assert!(!page.contains(other), "page {n} holds {other}");
        }
    }
}

#[test]
fn pdf_scanned_page_is_recognized_or_listed_for_ocr() {
    let Some(x) = sample("scanned_image_only.pdf") else {
        return;
    };
    assert_eq!(x.pages.len(), 1);
    if !ocr_available() {
        eprintln!("skipped OCR check: pdftoppm or tesseract (chi_sim, eng) not installed");
        assert_eq!(x.pages_needing_ocr, vec![1]);
        assert!(x.text.trim().is_empty());
        assert!(
            x.warnings.iter().any(|w| w.contains("tesseract")),
            "{:?}",
            x.warnings
        );
        return;
    }
    assert!(
        x.pages_needing_ocr.is_empty(),
        "{:?} {:?}",
        x.pages_needing_ocr,
        x.warnings
    );
    assert!(
        x.warnings
            .iter()
            .any(|w| w == "page 1: text recognized by OCR"),
        "{:?}",
        x.warnings
    );
    let page = page_text(&x, 1);
    assert_contains(&page, "HT-2023-0815");
    assert_contains(&page, "SCANNED DOCUMENT");
    assert_contains(&page, "128,000.00");
    // Chinese recognition is good but not perfect: most of the characters must be there.
    let squashed = squash(&page);
    let found = "扫描件采购合同合同编号金额人民币"
        .chars()
        .filter(|c| squashed.contains(*c))
        .count();
    assert!(
        found >= 11,
        "only {found}/15 Chinese characters recognized in {page:?}"
    );
}

#[test]
fn pdf_bad_files_fail_with_the_right_error() {
    let Some(e) = extract_sample_err("bad/empty.pdf") else {
        return;
    };
    assert!(matches!(e, ExtractError::Empty { .. }), "{e}");
    let Some(e) = extract_sample_err("bad/truncated.pdf") else {
        return;
    };
    assert!(matches!(e, ExtractError::Corrupt { .. }), "{e}");
    let Some(e) = extract_sample_err("bad/encrypted_password_lexinaut.pdf") else {
        return;
    };
    assert!(matches!(e, ExtractError::Encrypted { .. }), "{e}");
    assert!(e.to_string().contains("password"), "{e}");
}

/// text_zh.pdf re-encrypted by lopdf (RC4, 128-bit) with the given passwords.
fn encrypted_copy(dir: &Path, user_password: &str) -> Vec<u8> {
    use lopdf::{EncryptionState, EncryptionVersion, Permissions};
    let mut doc = lopdf::Document::load(dir.join("text_zh.pdf")).expect("load text_zh.pdf");
    let version = EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner-secret",
        user_password,
        key_length: 128,
        permissions: Permissions::PRINTABLE,
    };
    let state = EncryptionState::try_from(version).expect("encryption state");
    doc.encrypt(&state).expect("encrypt");
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

#[test]
fn pdf_owner_password_only_is_read_and_user_password_is_refused() {
    let Some(dir) = samples_dir() else { return };
    let open = encrypted_copy(&dir, "");
    let x = extract_bytes(Path::new("owner_only.pdf"), Format::Pdf, &open)
        .expect("owner-password-only PDF");
    assert_contains(&x.text, "百润股份2023年半年度报告摘要");
    let locked = encrypted_copy(&dir, "lexinaut");
    let e =
        extract_bytes(Path::new("locked.pdf"), Format::Pdf, &locked).expect_err("user password");
    assert!(matches!(e, ExtractError::Encrypted { .. }), "{e}");
}

#[test]
fn pdf_hostile_bytes_never_panic() {
    let Some(dir) = samples_dir() else { return };
    let good = std::fs::read(dir.join("multi_page.pdf")).expect("read multi_page.pdf");
    let mut inputs: Vec<Vec<u8>> = vec![
        b"%PDF-1.7\n".to_vec(),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 1 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec(),
        b"not a pdf at all".to_vec(),
    ];
    for cut in [100, 1000, good.len() / 2, good.len() - 10] {
        inputs.push(good[..cut].to_vec());
    }
    let mut flipped = good.clone();
    for i in (0..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5A;
    }
    inputs.push(flipped);
    for bytes in inputs {
        // Any result is fine; a panic or hang is not.
        let _ = extract_bytes(Path::new("hostile.pdf"), Format::Pdf, &bytes);
    }
}

#[test]
fn doc_report_text_table_and_title() {
    let Some(x) = sample("report.doc") else {
        return;
    };
    assert_eq!(x.format, Format::Doc);
    for fact in [
        "2023年上半年经营分析报告",
        BAIRUN,
        "Operations Review",
        EN_REVIEW,
        "华南",
        "South China",
        "964.00",
        "表格之后的段落：DOCX-END-MARKER",
    ] {
        assert_contains(&x.text, fact);
    }
    // A table row stays on one line, cells labelled by the header row.
    let row = x
        .text
        .lines()
        .find(|l| l.contains("华南"))
        .expect("a line with 华南");
    for cell in ["South China", "964.00", "9.8%"] {
        assert!(row.contains(cell), "{row:?} lacks {cell}");
    }
    assert!(row.contains(" | "), "{row:?}");
    assert!(!x
        .text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t'));
    let headings: Vec<(u8, &str)> = x
        .headings
        .iter()
        .map(|h| (h.level, h.title.as_str()))
        .collect();
    assert_eq!(
        headings,
        vec![(1, "2023年上半年经营分析报告"), (2, "Operations Review")]
    );
    assert_eq!(x.title.as_deref(), Some("2023年上半年经营分析报告"));
}

#[test]
fn ppt_slides_are_pages_in_order() {
    let Some(x) = sample("slides.ppt") else {
        return;
    };
    assert_eq!(x.format, Format::Ppt);
    let numbers: Vec<u32> = x.pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    let (p1, p2, p3) = (page_text(&x, 1), page_text(&x, 2), page_text(&x, 3));
    assert_contains(&p1, "第一张：半年报概览");
    assert_contains(&p1, BAIRUN);
    assert_contains(&p2, "Slide 2: Operations");
    assert_contains(&p2, EN_REVIEW);
    assert!(
        p2.contains("Notes:\nSpeaker notes: mention the Hangzhou lease (NOTES-MARKER)."),
        "{p2:?}"
    );
    assert!(!p1.contains("Notes:") && !p3.contains("Notes:"));
    assert_contains(&p3, "第三张：下一步计划");
    assert!(squash(&p3).contains("合同档案迁移；杭州办公室续租。"));
    assert!(p3.trim_end().ends_with(EN_ACTION), "{p3:?}");
    assert!(!p1.contains("Slide 2") && !p3.contains("Slide 2"));
    assert!(
        !x.text.contains("Click to edit Master"),
        "master text leaked"
    );
    assert!(!x.text.contains("___PPT10"), "tag names leaked");
    assert_eq!(x.pages[1].label.as_deref(), Some("Slide 2: Operations"));
    let titles: Vec<&str> = x.headings.iter().map(|h| h.title.as_str()).collect();
    assert_eq!(
        titles,
        vec![
            "第一张：半年报概览",
            "Slide 2: Operations",
            "第三张：下一步计划"
        ]
    );
}

#[test]
fn ole_formats_reject_files_that_are_not_ole() {
    let docx =
        samples_dir().map(|d| std::fs::read(d.join("report.docx")).expect("read report.docx"));
    let mut inputs: Vec<(&str, Vec<u8>)> = vec![
        ("plain text", "这不是Word文件".as_bytes().to_vec()),
        ("rtf", b"{\\rtf1\\ansi hello}".to_vec()),
    ];
    if let Some(docx) = docx {
        inputs.push(("zip", docx));
    }
    for (what, bytes) in inputs {
        for (format, name) in [(Format::Doc, "fake.doc"), (Format::Ppt, "fake.ppt")] {
            match extract_bytes(Path::new(name), format, &bytes) {
                Err(ExtractError::Corrupt { format: f, .. }) => assert_eq!(f, format.name()),
                other => panic!("{what} as {name}: {other:?}"),
            }
        }
    }
}

/// An OLE2 compound file holding the given streams.
fn ole_file(streams: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut file =
        cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).expect("create OLE file");
    for (name, data) in streams {
        file.create_stream(name)
            .expect("create stream")
            .write_all(data)
            .expect("write stream");
    }
    file.flush().expect("flush OLE file");
    file.into_inner().into_inner()
}

/// Every root-level stream of an OLE2 file, by name.
fn ole_streams(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut file = cfb::CompoundFile::open(std::io::Cursor::new(bytes)).expect("open OLE file");
    let names: Vec<String> = file
        .read_root_storage()
        .filter(|e| e.is_stream())
        .map(|e| e.name().to_owned())
        .collect();
    names
        .into_iter()
        .map(|name| {
            let mut data = Vec::new();
            file.open_stream(&name)
                .expect("open stream")
                .read_to_end(&mut data)
                .expect("read stream");
            (name, data)
        })
        .collect()
}

#[test]
fn ole_files_without_the_main_stream_are_corrupt() {
    let bytes = ole_file(&[("Other", b"nothing to see")]);
    for (format, name, stream) in [
        (Format::Doc, "x.doc", "WordDocument"),
        (Format::Ppt, "x.ppt", "PowerPoint Document"),
    ] {
        match extract_bytes(Path::new(name), format, &bytes) {
            Err(ExtractError::Corrupt { reason, .. }) => {
                assert!(reason.contains(stream), "{reason}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // A WordDocument stream too short for a FIB, and one with a wrong signature.
    for word in [&b"\xec\xa5"[..], &[0u8; 1024][..]] {
        let bytes = ole_file(&[("WordDocument", word)]);
        let e = extract_bytes(Path::new("x.doc"), Format::Doc, &bytes).expect_err("bad FIB");
        assert!(matches!(e, ExtractError::Corrupt { .. }), "{e}");
    }
}

#[test]
fn ppt_encrypted_current_user_is_reported() {
    // CurrentUserAtom: header, size, headerToken of an encrypted document, offsetToCurrentEdit.
    let mut user = vec![0x00, 0x00, 0xF6, 0x0F, 12, 0, 0, 0];
    user.extend_from_slice(&0x14u32.to_le_bytes());
    user.extend_from_slice(&0xF3D1_C4DFu32.to_le_bytes());
    user.extend_from_slice(&0u32.to_le_bytes());
    let document = [0x0F, 0x00, 0xE8, 0x03, 0, 0, 0, 0];
    let bytes = ole_file(&[("Current User", &user), ("PowerPoint Document", &document)]);
    let e = extract_bytes(Path::new("locked.ppt"), Format::Ppt, &bytes).expect_err("encrypted ppt");
    assert!(matches!(e, ExtractError::Encrypted { .. }), "{e}");
}

#[test]
fn ole_formats_survive_hostile_bytes() {
    let Some(dir) = samples_dir() else { return };
    let mut next = crate::support::xorshift(0x2545_F491_4F6C_DD1D);
    for (name, format) in [("report.doc", Format::Doc), ("slides.ppt", Format::Ppt)] {
        let good = std::fs::read(dir.join(name)).expect("read sample");
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        // The OLE signature followed by random bytes.
        let mut random = good[..8].to_vec();
        random.extend((0..4096).map(|_| next() as u8));
        inputs.push(random);
        // A valid header and directory, random sectors (streams with garbage).
        let mut noisy = good.clone();
        for b in noisy.iter_mut().skip(2048) {
            *b = next() as u8;
        }
        inputs.push(noisy);
        // Truncations, and scattered bit flips.
        for cut in [512, 1024, good.len() / 3, good.len() - 1] {
            inputs.push(good[..cut].to_vec());
        }
        for round in 0..20 {
            let mut flipped = good.clone();
            for _ in 0..(8 + round * 4) {
                let i = (next() as usize) % flipped.len();
                flipped[i] ^= 1 << (next() % 8);
            }
            inputs.push(flipped);
        }
        // The real streams rebuilt into a new file, with bytes of the main stream (FIB, piece
        // table, record headers) overwritten at random: lengths and offsets point anywhere.
        let streams = ole_streams(&good);
        // Hot spots: the FIB and the Clx (fcClx 9066, lcbClx 21 per CRATES.md) and PlcBtePapx
        // of report.doc; the whole record stream of slides.ppt.
        let hot: &[(&str, std::ops::Range<usize>)] = if format == Format::Doc {
            &[
                ("WordDocument", 0..0x1AA),
                ("1Table", 9066..9087),
                ("1Table", 5428..5488),
            ]
        } else {
            &[("PowerPoint Document", 0..15_232), ("Current User", 0..24)]
        };
        for round in 0..60 {
            let mut streams = streams.clone();
            let (name, range) = &hot[round % hot.len()];
            if let Some((_, data)) = streams.iter_mut().find(|(n, _)| n == name) {
                let end = range.end.min(data.len());
                for _ in 0..(1 + round / 10) {
                    let i = range.start + (next() as usize) % (end - range.start);
                    data[i] = next() as u8;
                }
            }
            let refs: Vec<(&str, &[u8])> = streams
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_slice()))
                .collect();
            inputs.push(ole_file(&refs));
        }
        for bytes in inputs {
            // Ok or Err are both fine; a panic is not (it would fail this test).
            let _ = extract_bytes(Path::new(name), format, &bytes);
        }
    }
}

#[test]
fn doc_encrypted_flag_is_reported() {
    let Some(dir) = samples_dir() else { return };
    let mut bytes = std::fs::read(dir.join("report.doc")).expect("read report.doc");
    // Find the FIB (wIdent 0xA5EC, then nFib) and set fEncrypted in its flags word.
    let fib = bytes
        .windows(4)
        .position(|w| w[0] == 0xEC && w[1] == 0xA5 && u16::from_le_bytes([w[2], w[3]]) >= 0xC1)
        .expect("FIB in report.doc");
    bytes[fib + 0x0B] |= 0x01;
    let e = extract_bytes(Path::new("locked.doc"), Format::Doc, &bytes).expect_err("encrypted doc");
    assert!(matches!(e, ExtractError::Encrypted { .. }), "{e}");
}
