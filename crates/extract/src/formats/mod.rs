//! One reader per format family; each turns a `Source` into an `Extracted`.

pub(crate) mod csv;
pub(crate) mod doc;
pub(crate) mod docx;
pub(crate) mod eml;
pub(crate) mod enex;
pub(crate) mod epub;
pub(crate) mod html;
pub(crate) mod ocr;
pub(crate) mod odt;
pub(crate) mod pdf;
pub(crate) mod ppt;
pub(crate) mod pptx;
pub(crate) mod spreadsheet;
pub(crate) mod zipped;
