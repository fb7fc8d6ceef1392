//! Plain text: the encoding (byte-order mark, else detected with chardetng from the first
//! megabyte), then lines and words counted while decoding in blocks, never the whole file in
//! memory.

use std::io::Read;
use std::path::Path;

use encoding_rs::{CoderResult, Encoding};

const SNIFF_BYTES: usize = 1 << 20;

pub struct TextCounts {
    pub lines: u64,
    pub words: u64,
    pub encoding: String,
}

pub fn profile(path: &Path) -> Result<TextCounts, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut block = vec![0u8; SNIFF_BYTES];
    let first = read_full(&mut file, &mut block)?;
    let encoding = match Encoding::for_bom(&block[..first]) {
        Some((enc, _)) => enc,
        None => {
            let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(&block[..first], first < SNIFF_BYTES);
            detector.guess(None, chardetng::Utf8Detection::Allow)
        }
    };
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut counter = Counter::default();
    let mut text = String::with_capacity(SNIFF_BYTES * 2);
    let mut filled = first;
    loop {
        let last = filled < block.len();
        let mut input = &block[..filled];
        loop {
            text.clear();
            let (result, read, _) = decoder.decode_to_string(input, &mut text, last);
            counter.feed(&text);
            input = &input[read..];
            if result == CoderResult::InputEmpty {
                break;
            }
        }
        if last {
            break;
        }
        filled = read_full(&mut file, &mut block)?;
    }
    Ok(TextCounts { lines: counter.lines(), words: counter.words, encoding: encoding.name().to_string() })
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> Result<usize, String> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(filled)
}

/// Lines (a last line without a newline counts) and whitespace-separated words, fed in pieces.
#[derive(Default)]
struct Counter {
    newlines: u64,
    words: u64,
    in_word: bool,
    /// Characters after the last newline.
    open_line: bool,
}

impl Counter {
    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            if c == '\n' {
                self.newlines += 1;
                self.open_line = false;
            } else {
                self.open_line = true;
            }
            let space = c.is_whitespace();
            if !space && !self.in_word {
                self.words += 1;
            }
            self.in_word = !space;
        }
    }

    fn lines(&self) -> u64 {
        self.newlines + self.open_line as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_words_are_counted_across_pieces() {
        let mut c = Counter::default();
        for piece in ["Objectives and ke", "y results\n\nweekly re", "view"] {
            c.feed(piece);
        }
        assert_eq!((c.lines(), c.words), (3, 6));
        let mut ends_with_newline = Counter::default();
        ends_with_newline.feed("a b\n");
        assert_eq!((ends_with_newline.lines(), ends_with_newline.words), (1, 2));
    }

    #[test]
    fn encodings_are_found_by_bom_or_detected() {
        let dir = tempfile::tempdir().unwrap();
        let utf16 = dir.path().join("u16.txt");
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "two words\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        std::fs::write(&utf16, bytes).unwrap();
        let counts = profile(&utf16).unwrap();
        assert_eq!((counts.encoding.as_str(), counts.lines, counts.words), ("UTF-16LE", 1, 2));

        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "héllo wörld").unwrap();
        assert_eq!(profile(&plain).unwrap().encoding, "UTF-8");
    }
}
