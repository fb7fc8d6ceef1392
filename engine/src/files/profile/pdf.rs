//! PDF documents with lopdf: the page count and the title from the document information.

use std::path::Path;

use lopdf::{Document, Object};

pub fn profile(path: &Path) -> Result<(u64, Option<String>), String> {
    let doc = Document::load(path).map_err(|e| format!("not a readable PDF: {e}"))?;
    let pages = doc.get_pages().len() as u64;
    let title = doc
        .trailer
        .get_deref(b"Info", &doc)
        .and_then(Object::as_dict)
        .and_then(|info| info.get_deref(b"Title", &doc))
        .ok()
        .and_then(|t| if let Object::String(bytes, _) = t { Some(text_string(bytes)) } else { None })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Ok((pages, title))
}

/// A PDF text string: UTF-16BE after its byte-order mark, otherwise PDFDocEncoding, which
/// agrees with Latin-1 for the characters titles use.
fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
        String::from_utf16_lossy(&units)
    } else if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        bytes.iter().map(|&b| b as char).collect()
    }
}
