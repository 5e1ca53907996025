//! Web pages, CSV, e-mail and Evernote exports: the shared samples (facts in EXPECTED.md) and
//! inputs written here (other delimiters and encodings, damaged files).

use std::path::Path;

use lexinaut_extract::{extract_bytes, extract_file, ExtractError, Extracted, Format, Limits};

use crate::support::{
    assert_contains, page_text, sample, samples_dir, squash, BEIDOU, EN_ACTION, EN_PRIORITIES, REIT,
};

fn extract_written(name: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write input");
    extract_file(&path, &Limits::default())
}

/// The line of `text` containing `needle`, or a panic showing the text.
#[track_caller]
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

fn check_page(x: &Extracted, encoding: &str) {
    assert_eq!(x.encoding.as_deref(), Some(encoding));
    assert_eq!(x.title.as_deref(), Some("北斗星通资产出售公告摘要"));
    assert_contains(&x.text, BEIDOU);
    assert_contains(&x.text, EN_PRIORITIES);
    for marker in [
        "SCRIPT-MARKER-DO-NOT-INDEX",
        "hidden-style-marker",
        "font-family",
    ] {
        assert!(
            !x.text.contains(marker),
            "{marker} leaked into:\n{}",
            x.text
        );
    }
    // The body starts with the title as <h1>: it is not repeated.
    assert_eq!(
        x.text.matches("北斗星通资产出售公告摘要").count(),
        1,
        "{}",
        x.text
    );
    assert_eq!(x.headings.len(), 1);
    assert_eq!(x.headings[0].level, 1);
    assert_eq!(x.headings[0].title, "北斗星通资产出售公告摘要");
    assert!(x.pages.is_empty());
    let row = line_with(&x.text, "华南");
    assert_eq!(
        row,
        "地区: 华南 | Region: South China | Q2营收(万元): 964.00 | 同比增长: 9.8%"
    );
    assert!(x.text.contains("地区 | Region | Q2营收(万元) | 同比增长"));
    assert!(x.warnings.is_empty(), "{:?}", x.warnings);
}

#[test]
fn html_utf8_page() {
    let Some(x) = sample("page_utf8.html") else {
        return;
    };
    check_page(&x, "UTF-8");
}

#[test]
fn html_gbk_page_uses_its_meta_charset() {
    let Some(x) = sample("page_gbk.html") else {
        return;
    };
    check_page(&x, "GBK");
}

#[test]
fn html_without_charset_in_gbk_is_guessed() {
    let page = "<html><head><title>经营简报</title></head><body>\
                <p>营业收入同比增长百分之十二，净利润创历史新高。</p>\
                <ul><li>华东地区表现最好</li><li>华南地区稳定增长</li></ul></body></html>";
    let (bytes, _, _) = encoding_rs::GBK.encode(page);
    let x = extract_written("no_charset.html", &bytes).expect("extracts");
    assert_eq!(x.encoding.as_deref(), Some("gb18030"));
    // The title is not at the start of the body, so it heads the text.
    assert_eq!(
        x.text,
        "经营简报\n\n营业收入同比增长百分之十二，净利润创历史新高。\n\n华东地区表现最好\n华南地区稳定增长"
    );
    assert_eq!(x.title.as_deref(), Some("经营简报"));
}

#[test]
fn html_fragment_and_headings_nest() {
    let page = "<h2>概览</h2><p>第一段</p><h3>细节</h3><p>第二段</p>";
    let x =
        extract_bytes(Path::new("fragment.html"), Format::Html, page.as_bytes()).expect("extracts");
    assert_eq!(x.encoding.as_deref(), Some("UTF-8"));
    assert_eq!(x.title, None);
    let at = x.text.chars().count() - 1;
    assert_eq!(x.heading_path(at), ["概览", "细节"]);
}

fn check_contracts(x: &Extracted, encoding: &str) {
    assert_eq!(x.encoding.as_deref(), Some(encoding));
    assert!(x.pages.is_empty());
    assert!(!x.text.starts_with('\u{feff}'));
    let lines: Vec<&str> = x.text.lines().collect();
    assert_eq!(lines.len(), 4, "one line per record:\n{}", x.text);
    assert_eq!(lines[0], "合同编号 | 客户 | 金额(元) | 备注");
    for (line, id) in lines[1..]
        .iter()
        .zip(["HT-2023-0815", "HT-2023-0816", "HT-2023-0817"])
    {
        assert!(
            line.starts_with(&format!("合同编号: {id} | 客户: ")),
            "{line}"
        );
        for column in ["金额(元): ", "备注: "] {
            assert!(line.contains(column), "{column} missing in {line}");
        }
    }
    assert!(lines[1].ends_with("备注: 含税, 分两期付款"), "{}", lines[1]);
    assert!(
        lines[2].ends_with("备注: Quoted \"special\" terms"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].ends_with("备注: 多行备注第一行 多行备注第二行"),
        "{}",
        lines[3]
    );
    assert!(
        lines[2].contains("客户: Northwind Trading Co."),
        "{}",
        lines[2]
    );
}

#[test]
fn csv_utf8_with_bom() {
    let Some(x) = sample("contracts_utf8_bom.csv") else {
        return;
    };
    check_contracts(&x, "UTF-8");
    assert!(x.warnings.is_empty(), "{:?}", x.warnings);
}

#[test]
fn csv_gbk() {
    let Some(x) = sample("contracts_gbk.csv") else {
        return;
    };
    check_contracts(&x, "gb18030");
    let utf8 = sample("contracts_utf8_bom.csv").expect("sample");
    assert_eq!(x.text, utf8.text);
}

#[test]
fn csv_tab_separated_with_csv_name() {
    let tsv = "地区\tRegion\t营收\n华东\tEast China\t1,280.50\n华南\tSouth China\t964.00\n";
    let x = extract_written("regions.csv", tsv.as_bytes()).expect("extracts");
    assert_eq!(
        x.text,
        "地区 | Region | 营收\n\
         地区: 华东 | Region: East China | 营收: 1,280.50\n\
         地区: 华南 | Region: South China | 营收: 964.00"
    );
}

#[test]
fn csv_semicolons_and_ragged_rows() {
    let text = "name;amount\nA;1,5\nB\nC;2;extra\n";
    let x = extract_written("eu.csv", text.as_bytes()).expect("extracts");
    assert_eq!(
        x.text,
        "name | amount\nname: A | amount: 1,5\nname: B\nname: C | amount: 2 | extra"
    );
}

#[test]
fn csv_with_unclosed_quote_is_read_anyway() {
    let text = "a,b\n\"1,2\n3,4\n";
    let x = extract_written("bad_quotes.csv", text.as_bytes()).expect("extracts");
    assert!(x.text.contains("a: 3 | b: 4"), "{}", x.text);
    assert_eq!(x.warnings.len(), 1, "{:?}", x.warnings);
}

#[test]
fn eml_utf8() {
    let Some(x) = sample("mail_utf8.eml") else {
        return;
    };
    assert_eq!(x.title.as_deref(), Some("2023年第三季度预算审批通知"));
    let lines: Vec<&str> = x.text.lines().collect();
    assert_eq!(lines[0], "Subject: 2023年第三季度预算审批通知");
    assert!(
        lines.contains(&"From: 张伟 <zhang.wei@example.com>"),
        "{}",
        x.text
    );
    assert!(lines.contains(&"To: team@example.com"), "{}", x.text);
    assert!(
        lines.contains(&"Date: Tue, 15 Aug 2023 09:30:00 +0800"),
        "{}",
        x.text
    );
    assert_contains(&x.text, "各位同事：请在8月20日前提交第三季度预算。");
    assert_contains(&x.text, EN_ACTION);
    // The plain body is preferred: the HTML alternative is not added a second time.
    assert_eq!(x.text.matches("各位同事").count(), 1, "{}", x.text);
    assert!(lines.contains(&"Attachment: 会议纪要.txt"), "{}", x.text);
    assert_contains(&x.text, &format!("会议纪要：{REIT}"));
    let attachment = x
        .text
        .find("Attachment: 会议纪要.txt")
        .expect("attachment heading");
    let at = x.text[..attachment].chars().count() + 20;
    assert_eq!(
        x.heading_path(at),
        [
            "Subject: 2023年第三季度预算审批通知",
            "Attachment: 会议纪要.txt"
        ]
    );
    assert!(x.warnings.is_empty(), "{:?}", x.warnings);
}

#[test]
fn eml_gb2312() {
    let Some(x) = sample("mail_gb2312.eml") else {
        return;
    };
    assert_eq!(x.title.as_deref(), Some("关于北斗星通公告的说明"));
    assert!(
        x.text.starts_with("Subject: 关于北斗星通公告的说明\n"),
        "{}",
        x.text
    );
    assert!(
        x.text.contains("From: 张伟 <zhang.wei@example.com>"),
        "{}",
        x.text
    );
    assert!(x.text.contains("Date: Tue, 15 Aug 2023 09:30:00 +0800"));
    assert_contains(&x.text, "请阅读附件中的公告摘要。");
    assert!(x.text.contains("Attachment: 公告摘要.txt"), "{}", x.text);
    assert_contains(
        &x.text,
        "公告摘要：8月4日晚间，北斗星通披露关于筹划重大资产出售的提示性公告。",
    );
    assert!(!x.text.contains('\u{FFFD}'));
}

/// A hand-written message: HTML-only body, a GBK text attachment without charset, a CSV
/// attachment sent as octet-stream, an image, and an attached message.
fn crafted_mail() -> Vec<u8> {
    use std::fmt::Write;
    let b64 = |bytes: &[u8]| {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(TABLE[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    let (gbk, _, _) =
        encoding_rs::GBK.encode("附件正文：营业收入同比增长百分之十二，净利润创历史新高。");
    let csv = "名称,数量\n苹果,3\n";
    let mut m = String::new();
    m.push_str("From: Li Lei <li.lei@example.com>\r\nTo: a@example.com, =?utf-8?B?6Z+p5qKF?= <han.mei@example.com>\r\n");
    m.push_str("Subject: =?utf-8?B?5ZGo5oql?=\r\nDate: Mon, 14 Aug 2023 08:00:00 +0800\r\n");
    m.push_str("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n");
    m.push_str("--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n");
    m.push_str("<html><body><h1>周报</h1><p>本周<b>完成</b>迁移。</p><script>SCRIPT-X</script></body></html>\r\n");
    m.push_str("--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n");
    m.push_str("Content-Disposition: attachment; filename=\"gbk.txt\"\r\n\r\n");
    let _ = write!(m, "{}\r\n", b64(&gbk));
    m.push_str("--XX\r\nContent-Type: application/octet-stream; name=\"list.csv\"\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"list.csv\"\r\n\r\n");
    let _ = write!(m, "{}\r\n", b64(csv.as_bytes()));
    m.push_str("--XX\r\nContent-Type: image/png; name=\"chart.png\"\r\nContent-Transfer-Encoding: base64\r\n");
    m.push_str("Content-Disposition: attachment; filename=\"chart.png\"\r\n\r\niVBORw0KGgo=\r\n");
    m.push_str("--XX\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n");
    m.push_str("From: boss@example.com\r\nSubject: Original\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nNESTED-BODY-MARKER\r\n");
    m.push_str("--XX--\r\n");
    m.into_bytes()
}

#[test]
fn eml_html_body_and_attachment_kinds() {
    let x = extract_written("crafted.eml", &crafted_mail()).expect("extracts");
    let text = &x.text;
    assert_eq!(x.title.as_deref(), Some("周报"));
    assert!(
        text.contains("To: a@example.com, 韩梅 <han.mei@example.com>"),
        "{text}"
    );
    assert!(text.contains("周报\n\n本周完成迁移。"), "{text}");
    assert!(!text.contains("SCRIPT-X"), "{text}");
    assert!(
        text.contains("Attachment: gbk.txt\n\n附件正文：营业收入同比增长"),
        "{text}"
    );
    assert!(
        text.contains("Attachment: list.csv\n\n名称 | 数量\n名称: 苹果 | 数量: 3"),
        "{text}"
    );
    assert!(
        text.contains("Attachment: chart.png (not indexed)"),
        "{text}"
    );
    assert!(
        text.contains("Attachment: fwd.eml\n\nSubject: Original\nFrom: boss@example.com"),
        "{text}"
    );
    assert!(text.contains("NESTED-BODY-MARKER"), "{text}");
    let h1 = x
        .headings
        .iter()
        .find(|h| h.title == "周报")
        .expect("html heading");
    assert_eq!(
        h1.level, 2,
        "HTML headings go below the subject: {:?}",
        x.headings
    );
}

/// Reproducible pseudo-random bytes (xorshift), no dependency.
fn random_inputs() -> impl Iterator<Item = Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..200).map(move |round| {
        let len = 1 + (round * 37) % 3000;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    })
}

#[test]
fn eml_random_bytes_are_corrupt() {
    for (round, bytes) in random_inputs().enumerate() {
        match extract_bytes(Path::new("random.eml"), Format::Eml, &bytes) {
            Err(ExtractError::Corrupt { .. }) => {}
            Err(e) => panic!("round {round}: unexpected error {e}"),
            Ok(x) => panic!("round {round}: random bytes read as a mail: {:?}", x.text),
        }
    }
    let err = extract_bytes(
        Path::new("plain.eml"),
        Format::Eml,
        b"just some text\nno headers",
    )
    .err();
    assert!(matches!(err, Some(ExtractError::Corrupt { .. })), "{err:?}");
}

#[test]
fn random_bytes_never_panic() {
    for bytes in random_inputs() {
        for format in [Format::Html, Format::Csv, Format::Enex] {
            // Any result will do, as long as it is one.
            let _ = extract_bytes(Path::new("random"), format, &bytes);
        }
    }
    // Random bytes wrapped in the shapes each reader looks for.
    for bytes in random_inputs().take(50) {
        let noise = String::from_utf8_lossy(&bytes);
        let html = format!("<meta charset=gbk><table><tr><th>{noise}</th></tr><tr><td>{noise}");
        let _ = extract_bytes(Path::new("r.html"), Format::Html, html.as_bytes());
        let csv = format!("a,b\n\"{noise}\",{noise}\n");
        let _ = extract_bytes(Path::new("r.csv"), Format::Csv, csv.as_bytes());
        let enex = format!("<en-export><note><title>{noise}</title><content>{noise}</content>");
        let _ = extract_bytes(Path::new("r.enex"), Format::Enex, enex.as_bytes());
    }
}

#[test]
fn enex_note() {
    let Some(x) = sample("note.enex") else {
        return;
    };
    assert_eq!(x.title.as_deref(), Some("北斗星通资产出售笔记"));
    assert_eq!(x.pages.len(), 1);
    assert_eq!(x.pages[0].number, 1);
    assert_eq!(x.pages[0].label.as_deref(), Some("北斗星通资产出售笔记"));
    let page = page_text(&x, 1);
    assert_eq!(page, x.text);
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "北斗星通资产出售笔记",
            "Tags: 公告, finance",
            "Author: 张伟",
            "Created: 2023-08-05T02:00:00Z"
        ]
    );
    assert_contains(&page, BEIDOU);
    assert_contains(&page, EN_PRIORITIES);
    assert!(
        page.ends_with("待办：核对交易金额\nENEX-LIST-MARKER"),
        "{page}"
    );
    assert_eq!(x.headings.len(), 1);
    assert_eq!(x.headings[0].title, "北斗星通资产出售笔记");
    assert_eq!(x.encoding.as_deref(), Some("UTF-8"));
}

const TWO_NOTES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE en-export SYSTEM "http://xml.evernote.com/pub/evernote-export3.dtd">
<en-export>
  <note>
    <title>First &amp; foremost</title>
    <content><![CDATA[<en-note><h1>Inside</h1><div>FIRST-NOTE-MARKER</div></en-note>]]></content>
    <created>20230101T000000Z</created>
    <resource><data encoding="base64">iVBORw0KGgo=</data><mime>image/png</mime></resource>
  </note>
  <note>
    <title>第二条</title>
    <content>&lt;en-note&gt;&lt;div&gt;SECOND-NOTE-MARKER &#x4E2D;&lt;/div&gt;&lt;/en-note&gt;</content>
    <tag>a</tag><tag>b</tag>
  </note>
</en-export>
"#;

#[test]
fn enex_notes_are_pages() {
    let x = extract_written("two.enex", TWO_NOTES.as_bytes()).expect("extracts");
    assert_eq!(x.title, None, "no single note: no document title");
    assert_eq!(x.pages.len(), 2);
    assert_eq!(x.pages[0].label.as_deref(), Some("First & foremost"));
    assert_eq!(x.pages[1].label.as_deref(), Some("第二条"));
    let first = page_text(&x, 1);
    assert!(first.contains("FIRST-NOTE-MARKER"), "{first}");
    assert!(!first.contains("iVBOR"), "{first}");
    let second = page_text(&x, 2);
    assert_eq!(second, "第二条\nTags: a, b\n\nSECOND-NOTE-MARKER 中");
    // The content's <h1> is nested under the note title.
    let inside = x
        .headings
        .iter()
        .find(|h| h.title == "Inside")
        .expect("heading");
    assert_eq!(inside.level, 2);
    let at = x.text.find("FIRST-NOTE-MARKER").expect("marker");
    assert_eq!(
        x.heading_path(x.text[..at].chars().count()),
        ["First & foremost", "Inside"]
    );
}

#[test]
fn enex_malformed_is_corrupt() {
    let cases: [(&str, &str); 4] = [
        ("<en-export><note><title>x</title></en-export>", "note"),
        ("<en-export><note><title>x</title>", "ends inside"),
        (
            "<html><body>not a note</body></html>",
            "not an Evernote export",
        ),
        ("<en-export><note><title>x</ti", ""),
    ];
    for (input, reason) in cases {
        let err = extract_written("bad.enex", input.as_bytes()).err();
        match err {
            Some(ExtractError::Corrupt {
                reason: r, path, ..
            }) => {
                assert!(r.contains(reason), "{input}: {r}");
                assert!(path.ends_with("bad.enex"));
            }
            other => panic!("{input}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn samples_produce_no_replacement_characters() {
    let Some(dir) = samples_dir() else {
        return;
    };
    for name in [
        "page_utf8.html",
        "page_gbk.html",
        "contracts_utf8_bom.csv",
        "contracts_gbk.csv",
        "mail_utf8.eml",
        "mail_gb2312.eml",
        "note.enex",
    ] {
        let x = extract_file(&dir.join(name), &Limits::default()).expect("extracts");
        assert!(!x.text.contains('\u{FFFD}'), "{name}");
        assert!(!squash(&x.text).is_empty(), "{name}");
    }
}
