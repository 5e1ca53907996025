//! Helpers shared by the extraction tests.

use std::path::PathBuf;

use lexinaut_extract::{extract_file, Extracted, Limits};

/// The shared samples folder, or `None` (with a note on stderr) when this checkout has none.
pub fn samples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/samples");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: shared samples not found at {}", dir.display());
        None
    }
}

/// Extracts a shared sample by file name (relative to the samples folder), panicking with the
/// error if it fails. `None` when the samples are absent.
pub fn sample(name: &str) -> Option<Extracted> {
    let path = samples_dir()?.join(name);
    Some(extract_file(&path, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}")))
}

/// Whitespace removed, as EXPECTED.md compares.
pub fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Asserts `text` contains `needle` once whitespace is removed from both.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(
        squash(text).contains(&squash(needle)),
        "expected to find {needle:?} in:\n{}",
        text.chars().take(2000).collect::<String>()
    );
}

/// The text of page `number` (1-based) of an extraction.
pub fn page_text(x: &Extracted, number: u32) -> String {
    let p = x
        .pages
        .iter()
        .find(|p| p.number == number)
        .unwrap_or_else(|| panic!("no page {number} in {:?}", x.pages));
    x.text.chars().skip(p.start).take(p.end - p.start).collect()
}

/// The named excerpts of EXPECTED.md.
pub const BAIRUN: &str = "7月27日下午，百润股份发布2023年半年度报告。当中披露，公司于2023年上半年实现营业收入约16.51亿元，同比增长59.2%；实现归属净利润约4.39亿元，同比增长98.85%；基本每股收益0.42元。";
pub const REIT: &str = "华夏越秀高速REIT二季度基金层面核心指标都保持着高速增长，实现合并收入5,813.25万元，同比增长16.39%，EBITDA为4,394.51万元，同比增长21.54%。";
pub const BEIDOU: &str = "8月4日晚间，北斗星通披露关于筹划重大资产出售的提示性公告，公告显示，公司旗下全资子公司北斗星通（重庆）汽车电子有限公司（以下简称“重庆北斗”）筹划以现金方式向北京华瑞世纪智联科技有限公司（以下简称“华瑞智联”）出售北斗星通智联科技有限责任公司（以下简称“北斗智联”）15%的股权。";
pub const EN_REVIEW: &str = "Northwind Trading Co. closed the second quarter of 2023 with revenue of USD 4.82 million, up 12.5% year over year. The Shanghai support team resolved 1,347 customer tickets with a median resolution time of 6.4 hours.";
pub const EN_PRIORITIES: &str = "Priorities for the third quarter are the migration of the contract archive to the new document platform and the renewal of the Hangzhou office lease, which expires on 30 September 2023.";
pub const EN_ACTION: &str =
    "Action item: finance must approve the revised travel budget before 15 August 2023.";

/// A small deterministic pseudo-random sequence (xorshift64) for reproducible damage tests.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
