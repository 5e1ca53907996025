//! Word 97-2003 (.doc): the main document text through the FIB and the piece table (Clx), with
//! Word's control characters turned into paragraphs, table rows, headings and field results.

pub(crate) mod ole;

use std::collections::HashMap;

use self::ole::{u16_at, u32_at};
use crate::builder::{table_row_text, TextBuilder};
use crate::{ExtractError, Extracted, Source};

/// FIB magic number of Word 97 and later.
const W_IDENT: u16 = 0xA5EC;
/// Lowest nFib of Word 97; Word 6/95 files store text differently.
const MIN_NFIB: u16 = 0x00C1;
const F_ENCRYPTED: u16 = 0x0100;
const F_WHICH_TBL_STM: u16 = 0x0200;
/// Index of fcStshf / fcPlcfBtePapx / fcClx in FibRgFcLcb97 (pairs of u32 fc, lcb).
const FCLCB_STSHF: usize = 1;
const FCLCB_PLCF_BTE_PAPX: usize = 13;
const FCLCB_CLX: usize = 33;

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    ole::guarded(src, || extract_doc(src))
}

fn extract_doc(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let mut file = ole::open(src)?;
    let word = ole::read_stream(src, &mut file, "WordDocument")?
        .ok_or_else(|| src.corrupt("no WordDocument stream (not a Word document)"))?;
    let fib = Fib::parse(&word).ok_or_else(|| src.corrupt("the Word header (FIB) is truncated"))?;
    if fib.ident != W_IDENT {
        return Err(src.corrupt("the Word header (FIB) has a wrong signature"));
    }
    if fib.flags & F_ENCRYPTED != 0 {
        return Err(ExtractError::Encrypted {
            path: src.path.to_owned(),
        });
    }
    if fib.n_fib < MIN_NFIB {
        return Err(src.corrupt("Word 6/95 files are not supported; save it as .docx"));
    }
    let table_name = if fib.flags & F_WHICH_TBL_STM != 0 {
        "1Table"
    } else {
        "0Table"
    };
    let table = ole::read_stream(src, &mut file, table_name)?
        .ok_or_else(|| src.corrupt(format!("the {table_name} stream is missing")))?;

    let (fc, lcb) = fib
        .fc_lcb(&word, FCLCB_CLX)
        .ok_or_else(|| src.corrupt("no piece table"))?;
    let clx = slice(&table, fc, lcb)
        .ok_or_else(|| src.corrupt("the piece table lies outside the table stream"))?;
    let pieces = parse_clx(clx).ok_or_else(|| src.corrupt("the piece table is damaged"))?;

    let styles = fib
        .fc_lcb(&word, FCLCB_STSHF)
        .and_then(|(fc, lcb)| slice(&table, fc, lcb))
        .map(heading_levels)
        .unwrap_or_default();
    let papx = fib
        .fc_lcb(&word, FCLCB_PLCF_BTE_PAPX)
        .and_then(|(fc, lcb)| slice(&table, fc, lcb))
        .map(|plc| ParagraphProps::new(&word, plc, styles));

    // The text length is the FIB's, bounded by what the stream can hold (hostile headers).
    let max_chars = (fib.ccp_text as usize).min(word.len());
    let mut writer = DocWriter::new(papx);
    let mut cp = 0usize;
    for piece in &pieces {
        if cp >= max_chars {
            break;
        }
        let start = (piece.cp_start as usize).max(cp);
        let end = (piece.cp_end as usize).min(max_chars);
        if start >= end {
            continue;
        }
        let skip = start - piece.cp_start as usize;
        let count = end - start;
        if piece.compressed {
            let at = piece.fc as usize / 2 + skip;
            let bytes = word.get(at..).unwrap_or_default();
            let bytes = &bytes[..count.min(bytes.len())];
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            for (i, c) in text.chars().enumerate() {
                writer.char(c, (at + i) as u32);
            }
        } else {
            let at = piece.fc as usize + 2 * skip;
            let bytes = word.get(at..).unwrap_or_default();
            let bytes = &bytes[..(2 * count).min(bytes.len())];
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            for (i, c) in char::decode_utf16(units.iter().copied()).enumerate() {
                // Offsets drift by one unit after a surrogate pair; only \r and \x07 need
                // exact offsets and they are never part of one.
                writer.char(c.unwrap_or('\u{FFFD}'), (at + 2 * i) as u32);
            }
        }
        cp = end;
    }
    let b = writer.finish();
    let mut x = src.extracted(b);
    x.title = ole::summary_title(src, &mut file);
    Ok(x)
}

fn slice(data: &[u8], fc: u32, lcb: u32) -> Option<&[u8]> {
    let start = fc as usize;
    data.get(start..start.checked_add(lcb as usize)?)
}

/// The parts of the File Information Block this reader needs.
struct Fib {
    ident: u16,
    n_fib: u16,
    flags: u16,
    ccp_text: u32,
    /// Offset of FibRgFcLcb in the WordDocument stream.
    fc_lcb_at: usize,
    fc_lcb_count: usize,
}

impl Fib {
    fn parse(word: &[u8]) -> Option<Self> {
        let csw = u16_at(word, 0x20)? as usize;
        let rg_lw = 0x22 + csw * 2 + 2;
        let cslw = u16_at(word, rg_lw - 2)? as usize;
        let rg_fc_lcb = rg_lw + cslw * 4 + 2;
        Some(Self {
            ident: u16_at(word, 0)?,
            n_fib: u16_at(word, 2)?,
            flags: u16_at(word, 0x0A)?,
            // ccpText is the fourth u32 of FibRgLw97.
            ccp_text: u32_at(word, rg_lw + 0x0C)?,
            fc_lcb_at: rg_fc_lcb,
            fc_lcb_count: u16_at(word, rg_fc_lcb - 2)? as usize,
        })
    }

    /// The (fc, lcb) pair at `index` of FibRgFcLcb, `None` if absent or empty.
    fn fc_lcb(&self, word: &[u8], index: usize) -> Option<(u32, u32)> {
        if index >= self.fc_lcb_count {
            return None;
        }
        let at = self.fc_lcb_at + index * 8;
        let (fc, lcb) = (u32_at(word, at)?, u32_at(word, at + 4)?);
        (lcb > 0).then_some((fc, lcb))
    }
}

/// One run of the piece table: characters [cp_start, cp_end) stored at `fc`.
struct Piece {
    cp_start: u32,
    cp_end: u32,
    fc: u32,
    compressed: bool,
}

/// The PlcPcd inside the Clx, after any Prc (property modifier) blocks.
fn parse_clx(clx: &[u8]) -> Option<Vec<Piece>> {
    let mut at = 0;
    while clx.get(at) == Some(&0x01) {
        let cb = u16_at(clx, at + 1)? as usize;
        at += 3 + cb;
    }
    if clx.get(at) != Some(&0x02) {
        return None;
    }
    let lcb = u32_at(clx, at + 1)? as usize;
    let plc = clx.get(at + 5..(at + 5).checked_add(lcb)?)?;
    if plc.len() < 4 || (plc.len() - 4) % 12 != 0 {
        return None;
    }
    let n = (plc.len() - 4) / 12;
    let mut pieces = Vec::with_capacity(n);
    for i in 0..n {
        let (cp_start, cp_end) = (u32_at(plc, i * 4)?, u32_at(plc, i * 4 + 4)?);
        let raw_fc = u32_at(plc, (n + 1) * 4 + i * 8 + 2)?;
        if cp_end < cp_start {
            return None;
        }
        pieces.push(Piece {
            cp_start,
            cp_end,
            fc: raw_fc & 0x3FFF_FFFF,
            compressed: raw_fc & 0x4000_0000 != 0,
        });
    }
    Some(pieces)
}

/// Heading level (1-9) per style index, from the stylesheet (STSH): built-in styles
/// "heading 1" to "heading 9" have sti 1 to 9 whatever their istd.
fn heading_levels(stsh: &[u8]) -> Vec<Option<u8>> {
    let Some(cb_stshi) = u16_at(stsh, 0) else {
        return Vec::new();
    };
    let cstd = u16_at(stsh, 2).unwrap_or(0) as usize;
    let mut at = 2 + cb_stshi as usize;
    let mut levels = Vec::with_capacity(cstd.min(4096));
    for _ in 0..cstd.min(4096) {
        let Some(cb_std) = u16_at(stsh, at) else {
            break;
        };
        let level = if cb_std >= 2 {
            u16_at(stsh, at + 2)
                .map(|w| w & 0x0FFF)
                .filter(|sti| (1..=9).contains(sti))
                .map(|sti| sti as u8)
        } else {
            None
        };
        levels.push(level);
        at += 2 + cb_std as usize;
    }
    levels
}

/// What a paragraph mark's paragraph properties say about it.
#[derive(Debug, Clone, Copy, Default)]
struct Para {
    in_table: bool,
    /// The mark ends a table row (TTP), not a cell.
    row_end: bool,
    heading: Option<u8>,
}

const SPRM_P_F_IN_TABLE: u16 = 0x2416;
const SPRM_P_F_TTP: u16 = 0x2417;
const SPRM_P_ITAP: u16 = 0x6649;
const SPRM_P_F_INNER_TTP: u16 = 0x244C;
const SPRM_T_DEF_TABLE: u16 = 0xD608;
const FKP_SIZE: usize = 512;

/// Paragraph properties looked up by stream offset: PlcBtePapx -> PapxFkp pages -> PapxInFkp.
struct ParagraphProps<'a> {
    word: &'a [u8],
    /// Stream offsets bounding each FKP page's range, and the page numbers.
    bounds: Vec<u32>,
    pages: Vec<u32>,
    styles: Vec<Option<u8>>,
    cache: HashMap<u32, Vec<(u32, u32, Para)>>,
}

impl<'a> ParagraphProps<'a> {
    fn new(word: &'a [u8], plc: &[u8], styles: Vec<Option<u8>>) -> Self {
        let n = plc.len().saturating_sub(4) / 8;
        let bounds = (0..=n).filter_map(|i| u32_at(plc, i * 4)).collect();
        let pages = (0..n)
            .filter_map(|i| u32_at(plc, (n + 1) * 4 + i * 4))
            .map(|pn| pn & 0x3F_FFFF)
            .collect();
        Self {
            word,
            bounds,
            pages,
            styles,
            cache: HashMap::new(),
        }
    }

    /// Properties of the paragraph whose mark is at stream offset `fc`.
    fn at(&mut self, fc: u32) -> Option<Para> {
        let i = self.bounds.partition_point(|b| *b <= fc).checked_sub(1)?;
        let pn = *self.pages.get(i)?;
        if !self.cache.contains_key(&pn) {
            let runs = self.fkp(pn).unwrap_or_default();
            self.cache.insert(pn, runs);
        }
        self.cache
            .get(&pn)?
            .iter()
            .find(|(s, e, _)| *s <= fc && fc < *e)
            .map(|r| r.2)
    }

    /// The runs of one PapxFkp page: (start fc, end fc, properties).
    fn fkp(&self, pn: u32) -> Option<Vec<(u32, u32, Para)>> {
        let start = (pn as usize).checked_mul(FKP_SIZE)?;
        let page = self.word.get(start..start.checked_add(FKP_SIZE)?)?;
        let crun = page[FKP_SIZE - 1] as usize;
        let mut runs = Vec::with_capacity(crun);
        for i in 0..crun {
            let (from, to) = (u32_at(page, i * 4)?, u32_at(page, i * 4 + 4)?);
            let b_offset = *page.get((crun + 1) * 4 + i * 13)? as usize * 2;
            let para = if b_offset == 0 {
                Para::default()
            } else {
                self.papx(page, b_offset).unwrap_or_default()
            };
            runs.push((from, to, para));
        }
        Some(runs)
    }

    /// Decodes a PapxInFkp: its istd and the few sprms that matter for text layout.
    fn papx(&self, page: &[u8], at: usize) -> Option<Para> {
        let cb = *page.get(at)? as usize;
        let (grp, len) = if cb != 0 {
            (at + 1, 2 * cb - 1)
        } else {
            (at + 2, 2 * *page.get(at + 1)? as usize)
        };
        let grp = page.get(grp..grp.checked_add(len)?.min(page.len()))?;
        let istd = u16_at(grp, 0)? as usize;
        let mut para = Para {
            heading: self.styles.get(istd).copied().flatten(),
            ..Para::default()
        };
        let mut i = 2;
        while let Some(sprm) = u16_at(grp, i) {
            let operand = i + 2;
            let size = match sprm >> 13 {
                0 | 1 => 1,
                2 | 4 | 5 => 2,
                3 => 4,
                7 => 3,
                _ if sprm == SPRM_T_DEF_TABLE => {
                    2 + (u16_at(grp, operand)? as usize).saturating_sub(1)
                }
                _ => 1 + *grp.get(operand)? as usize,
            };
            let value = grp.get(operand).copied().unwrap_or(0);
            match sprm {
                SPRM_P_F_IN_TABLE => para.in_table = value != 0,
                SPRM_P_F_TTP => para.row_end = value != 0,
                SPRM_P_ITAP => para.in_table |= u32_at(grp, operand).unwrap_or(0) > 0,
                SPRM_P_F_INNER_TTP => para.in_table = true,
                _ => {}
            }
            i = operand + size;
        }
        if para.row_end {
            para.in_table = true;
        }
        Some(para)
    }
}

/// Turns Word's character stream into blocks: paragraphs, headings and table rows.
struct DocWriter<'a> {
    b: TextBuilder,
    props: Option<ParagraphProps<'a>>,
    para: String,
    cells: Vec<String>,
    /// The current table's first row, used to label the cells of the following rows.
    header: Option<Vec<String>>,
    /// For each open field: true once its result (after the separator) is being read.
    fields: Vec<bool>,
    last_was_cell_end: bool,
}

impl<'a> DocWriter<'a> {
    fn new(props: Option<ParagraphProps<'a>>) -> Self {
        Self {
            b: TextBuilder::new(),
            props,
            para: String::new(),
            cells: Vec::new(),
            header: None,
            fields: Vec::new(),
            last_was_cell_end: false,
        }
    }

    /// One character of the main text, stored at stream offset `fc`.
    fn char(&mut self, c: char, fc: u32) {
        let cell_end = c == '\u{7}';
        match c {
            '\u{13}' => self.fields.push(false),
            '\u{14}' => {
                if let Some(in_result) = self.fields.last_mut() {
                    *in_result = true;
                }
            }
            '\u{15}' => {
                self.fields.pop();
            }
            '\r' => self.paragraph_mark(fc),
            '\u{7}' => self.cell_mark(fc),
            _ if !self.fields.iter().all(|in_result| *in_result) => {}
            // Line break, page or section break, column break.
            '\u{b}' | '\u{c}' | '\u{e}' => self.para.push('\n'),
            '\u{1e}' => self.para.push('-'),
            '\t' => self.para.push('\t'),
            '\u{a0}' => self.para.push(' '),
            // Optional hyphens, object anchors, footnote marks and other controls.
            _ if c.is_control() => {}
            _ => self.para.push(c),
        }
        self.last_was_cell_end = cell_end;
    }

    fn props_at(&mut self, fc: u32) -> Option<Para> {
        self.props.as_mut().and_then(|p| p.at(fc))
    }

    fn paragraph_mark(&mut self, fc: u32) {
        let para = self.props_at(fc).unwrap_or_default();
        if para.in_table {
            // A paragraph break inside a cell: the cell stays on the row's line.
            self.para.push('\n');
            return;
        }
        self.end_row();
        self.header = None;
        let text = std::mem::take(&mut self.para);
        match para.heading {
            Some(level) => self.b.heading(level, &text),
            None => self.b.push_block(&text),
        }
    }

    fn cell_mark(&mut self, fc: u32) {
        let row_end = match self.props_at(fc) {
            Some(para) => para.row_end,
            // Without properties: the row-end mark follows the last cell's mark directly.
            None => self.last_was_cell_end && self.para.trim().is_empty(),
        };
        if row_end {
            self.para.clear();
            self.end_row();
        } else {
            let cell = std::mem::take(&mut self.para);
            self.cells.push(cell);
        }
    }

    fn end_row(&mut self) {
        if self.cells.is_empty() {
            return;
        }
        let cells = std::mem::take(&mut self.cells);
        match &self.header {
            Some(header) => self.b.table_row(header, &cells),
            None => {
                self.b.push_block(&table_row_text(&[], &cells));
                self.header = Some(cells);
            }
        }
    }

    fn finish(mut self) -> TextBuilder {
        if !self.para.trim().is_empty() {
            self.cells.push(std::mem::take(&mut self.para));
        }
        // Text left after the last mark: a row cut short, or a paragraph without its mark.
        if self.header.is_some() || self.cells.len() > 1 {
            self.end_row();
        } else if let Some(last) = self.cells.pop() {
            self.b.push_block(&last);
        }
        self.b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> String {
        let mut w = DocWriter::new(None);
        for c in text.chars() {
            w.char(c, 0);
        }
        w.finish().finish().0
    }

    #[test]
    fn fields_keep_only_their_result() {
        assert_eq!(
            write("见\u{13} HYPERLINK \"http://x\" \u{14}官网\u{15}。\r\u{13}PAGE\u{15}end\r"),
            "见官网。\n\nend"
        );
        assert_eq!(write("a\u{13}x\u{13}y\u{14}z\u{15}\u{14}b\u{15}c\r"), "abc");
    }

    #[test]
    fn tables_without_properties_end_rows_at_double_marks() {
        assert_eq!(
            write("前\r地区\u{7}Region\u{7}\u{7}华南\u{7}South China\u{7}\u{7}后\u{b}行\r"),
            "前\n\n地区 | Region\n地区: 华南 | Region: South China\n\n后\n行"
        );
    }

    #[test]
    fn clx_skips_prc_and_reads_pieces() {
        let mut clx = vec![0x01, 0x02, 0x00, 0xAA, 0xBB, 0x02];
        clx.extend_from_slice(&16u32.to_le_bytes());
        clx.extend_from_slice(&0u32.to_le_bytes());
        clx.extend_from_slice(&5u32.to_le_bytes());
        clx.extend_from_slice(&[0, 0]);
        clx.extend_from_slice(&(0x4000_0000u32 | 0x800).to_le_bytes());
        clx.extend_from_slice(&[0, 0]);
        let pieces = parse_clx(&clx).expect("valid clx");
        assert_eq!(pieces.len(), 1);
        assert!(pieces[0].compressed);
        assert_eq!((pieces[0].cp_end, pieces[0].fc), (5, 0x800));
        assert!(parse_clx(&clx[..clx.len() - 3]).is_none());
    }
}
