//! Tables with polars: reading CSV, TSV, JSON, NDJSON and Parquet into a `DataFrame` (for
//! conversions and profiles), profiling CSV and TSV in record-aligned blocks so a gigabyte file
//! never sits in memory whole, and the profile of any frame (row count, dtypes, nulls, distinct
//! values, number statistics, the most frequent texts, a preview). Excel sheets become frames in
//! `excel.rs` and are profiled here too.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use super::stats::TableStats;
use crate::files::{FileKind, TableProfile};

/// Rows in a profile's preview.
pub const PREVIEW_ROWS: usize = 20;
/// Rows polars looks at to infer the column types of JSON and of CSV read whole.
const INFER_ROWS: usize = 10_000;
/// Rows of a profiled CSV's first block that decide its column types.
const CSV_INFER_ROWS: usize = 100_000;

/// A frame read from a file, with what the reader had to work around.
pub struct Read {
    pub frame: DataFrame,
    pub warnings: Vec<String>,
}

/// Reads a polars-readable tabular file. The error is the parser's message, with the line and
/// column where they can be found.
pub fn read(path: &Path, kind: FileKind) -> Result<Read, String> {
    if std::fs::metadata(path).map_err(|e| e.to_string())?.len() == 0 {
        return Ok(Read { frame: DataFrame::empty(), warnings: vec!["the file is empty".into()] });
    }
    match kind {
        FileKind::Csv => read_csv(path, b','),
        FileKind::Tsv => read_csv(path, b'\t'),
        FileKind::Json => read_json(path, false),
        FileKind::Ndjson => read_json(path, true),
        FileKind::Parquet => {
            check_parquet_footer(path)?;
            let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
            let frame = ParquetReader::new(file).finish().map_err(|e| format!("not a readable Parquet file: {e}"))?;
            Ok(Read { frame, warnings: vec![] })
        }
        other => Err(format!("{} is not read as a table", other.description())),
    }
}

fn read_csv(path: &Path, separator: u8) -> Result<Read, String> {
    let read = |encoding| {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(INFER_ROWS))
            .map_parse_options(|o| o.with_separator(separator).with_encoding(encoding))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
    };
    match read(CsvEncoding::Utf8) {
        Ok(frame) => Ok(Read { frame, warnings: vec![] }),
        Err(e) if is_utf8_error(&e) => {
            // Exported from older spreadsheets, CSV is often Latin-1 or Windows-1252: show what
            // can be read, and say what was replaced.
            let offset = first_invalid_utf8(path);
            let frame = read(CsvEncoding::LossyUtf8).map_err(|e| csv_error(&e))?;
            let at = offset.map(|o| format!(" (the first at byte {o})")).unwrap_or_default();
            Ok(Read {
                frame,
                warnings: vec![format!(
                    "the file is not valid UTF-8{at}; invalid bytes were replaced with U+FFFD. Save it as UTF-8, or convert it to clean CSV"
                )],
            })
        }
        Err(e) => Err(csv_error(&e)),
    }
}

fn is_utf8_error(e: &PolarsError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("utf-8") || text.contains("utf8")
}

fn csv_error(e: &PolarsError) -> String {
    format!("could not read the CSV: {e}")
}

/// The byte offset of the first invalid UTF-8 sequence, reading the file in blocks.
fn first_invalid_utf8(path: &Path) -> Option<u64> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = 0usize;
    let mut base = 0u64;
    loop {
        let n = file.read(&mut buf[carry..]).ok()?;
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) if n == 0 => return None,
            Ok(_) => {
                base += filled as u64;
                carry = 0;
            }
            Err(e) if e.error_len().is_some() => return Some(base + e.valid_up_to() as u64),
            // An incomplete sequence at the end of the block: keep it for the next block.
            Err(_) if n == 0 => return Some(base),
            Err(e) => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                base += valid as u64;
                carry = filled - valid;
            }
        }
    }
}

fn read_json(path: &Path, lines: bool) -> Result<Read, String> {
    check_json_depth(path, lines)?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let result = JsonReader::new(file)
        .with_json_format(if lines { JsonFormat::JsonLines } else { JsonFormat::Json })
        .infer_schema_len(std::num::NonZeroUsize::new(INFER_ROWS))
        .finish();
    match result {
        Ok(frame) => Ok(Read { frame, warnings: vec![] }),
        // polars' messages rarely say where; serde_json does, for syntax errors.
        Err(e) => Err(json_syntax_error(path, lines).unwrap_or_else(|| format!("could not read the JSON: {e}"))),
    }
}

/// The deepest nesting of arrays and objects read from JSON. polars' schema inference recurses
/// once per level: 200,000 nested arrays in a 400 KB file overflowed its stack.
pub const MAX_JSON_DEPTH: usize = 64;

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`], found by one pass over the bytes
/// (strings and escapes respected) before any parser sees them.
fn check_json_depth(path: &Path, lines: bool) -> Result<(), String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut offset, mut line) = (0u64, 1u64);
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("could not read the file: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    b'\n' => {
                        line += 1;
                        // NDJSON: a line is a document of its own, even one with an open string.
                        if lines {
                            (in_string, escaped, depth) = (false, false, 0);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_JSON_DEPTH {
                        let at = offset + i as u64;
                        let line = if lines { format!("line {line}, ") } else { String::new() };
                        return Err(format!(
                            "the JSON is nested more than {MAX_JSON_DEPTH} levels deep ({line}byte {at}); okrflow reads JSON nested up to {MAX_JSON_DEPTH} levels"
                        ));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                b'\n' => {
                    line += 1;
                    // Each NDJSON line is a document of its own.
                    if lines {
                        depth = 0;
                    }
                }
                _ => {}
            }
        }
        offset += n as u64;
    }
}

/// The largest Parquet footer (file metadata) read: a footer declares its own length, and a
/// file that claims gigabytes of metadata is refused before any of it is allocated.
pub const MAX_PARQUET_FOOTER: u64 = 64 << 20;

/// Checks the length a Parquet file declares for its footer against the file and the cap.
fn check_parquet_footer(path: &Path) -> Result<(), String> {
    use std::io::{Read as _, Seek as _};
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size < 12 {
        return Err(format!("not a readable Parquet file: {size} bytes is shorter than its header and footer"));
    }
    let mut tail = [0u8; 8];
    file.seek(std::io::SeekFrom::End(-8)).and_then(|_| file.read_exact(&mut tail)).map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("not a readable Parquet file: it does not end with the PAR1 marker (truncated?)".into());
    }
    let declared = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if declared > size - 12 {
        return Err(format!(
            "not a readable Parquet file: its footer declares {declared} bytes of metadata but the file has {size} bytes"
        ));
    }
    if declared > MAX_PARQUET_FOOTER {
        return Err(format!(
            "the Parquet footer declares {} of metadata; okrflow reads footers up to {}",
            crate::units::format_bytes(declared),
            crate::units::format_bytes(MAX_PARQUET_FOOTER)
        ));
    }
    Ok(())
}

/// Where the JSON (or which JSON line) is malformed, as "line L, column C: …".
fn json_syntax_error(path: &Path, lines: bool) -> Option<String> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path).ok()?;
    if !lines {
        let reader = std::io::BufReader::new(file);
        return match serde_json::from_reader::<_, serde::de::IgnoredAny>(reader) {
            Err(e) if e.is_syntax() || e.is_eof() => Some(format!("invalid JSON: {e}")),
            Err(_) | Ok(_) => None,
        };
    }
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.ok()?;
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&line) {
            // serde_json places the error within the line; the file's line number is ours.
            let text = e.to_string();
            let what = text.split(" at line ").next().unwrap_or(&text);
            return Some(format!("invalid JSON on line {}, column {}: {what}", i + 1, e.column()));
        }
    }
    None
}

/// The profile of a frame read whole.
pub fn profile_frame(frame: &DataFrame, sheet: Option<String>, warnings: Vec<String>) -> Result<TableProfile, String> {
    let mut stats = TableStats::new(frame);
    stats.update(frame)?;
    let (rows, columns) = stats.finish();
    Ok(TableProfile { sheet, rows, columns, preview: preview(frame), warnings, ..Default::default() })
}

/// Bytes of CSV parsed at a time (plus the rest of a record cut by the block's end).
const BLOCK_BYTES: usize = 64 << 20;

/// How far a block may grow past its size to reach the end of a record: a record this long is
/// almost certainly an unbalanced quote (or line endings that are not `\n`).
const MAX_RECORD_BYTES: usize = 256 << 20;

/// Profiles a CSV or TSV block by block: each block ends at a record boundary (outside quotes),
/// is parsed by polars with the first block's column types, and is folded into the statistics.
pub fn profile_csv(path: &Path, separator: u8) -> Result<TableProfile, String> {
    profile_csv_in_blocks(path, separator, BLOCK_BYTES, MAX_RECORD_BYTES)
}

fn profile_csv_in_blocks(
    path: &Path,
    separator: u8,
    block_bytes: usize,
    max_record: usize,
) -> Result<TableProfile, String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if file.metadata().map_err(|e| e.to_string())?.len() == 0 {
        return profile_frame(&DataFrame::empty(), None, vec!["the file is empty".into()]);
    }
    let mut buf: Vec<u8> = Vec::with_capacity(block_bytes + (1 << 20));
    let mut offset = 0u64;
    let mut target = block_bytes;
    let mut schema: Option<SchemaRef> = None;
    let mut stats: Option<TableStats> = None;
    let mut first_rows = Vec::new();
    let mut warnings = Vec::new();
    loop {
        // Fill the buffer to the target or the end of the file.
        let mut eof = false;
        while buf.len() < target {
            let had = buf.len();
            buf.resize(target, 0);
            let n = file.read(&mut buf[had..]).map_err(|e| format!("could not read the file: {e}"))?;
            buf.truncate(had + n);
            if n == 0 {
                eof = true;
                break;
            }
        }
        // The first block must hold the header and at least one record, or the column types
        // would be guessed from the header alone.
        let needed = if schema.is_none() { 2 } else { 1 };
        let (count, last) = record_ends(&buf);
        let end = match last {
            _ if eof => Some(buf.len()),
            last if count >= needed => last,
            _ => None,
        };
        let Some(end) = end else {
            if buf.len() >= block_bytes + max_record {
                return Err(format!(
                    "no record ends within {} after byte {}: is a quote (\") left open, or are lines ended by CR alone?",
                    crate::units::format_bytes(buf.len() as u64),
                    offset + last.unwrap_or(0) as u64
                ));
            }
            // A record longer than the block: read further before parsing.
            target = buf.len() + block_bytes;
            continue;
        };
        let block = &buf[..end];
        if block.iter().any(|b| !b.is_ascii_whitespace()) {
            let rows_before = stats.as_ref().map_or(0, |s| s.rows);
            let parsed = parse_block(block, separator, schema.as_ref(), Some(CSV_INFER_ROWS), offset, &mut warnings);
            let frame = match (parsed, &schema) {
                (Ok(frame), _) => frame,
                // A value past the first rows that does not fit their types: infer from the
                // whole first block instead (slower, so only when needed).
                (Err(e), None) => {
                    parse_block(block, separator, None, None, offset, &mut warnings).map_err(|_| csv_error(&e))?
                }
                // Values that no longer fit the types of the first rows: read this block as
                // text; the statistics keep what still parses as a number and count the rest
                // as text, and the column's type says "and text".
                (Err(e), Some(types)) => {
                    let text: SchemaRef =
                        Arc::new(types.iter_names().map(|n| Field::new(n.clone(), DataType::String)).collect());
                    let frame = parse_block(block, separator, Some(&text), None, offset, &mut warnings)
                        .map_err(|_| format!("could not read the CSV after record {rows_before}: {e}"))?;
                    if !warnings.iter().any(|w| w.contains("do not fit")) {
                        warnings.push(format!(
                            "after record {rows_before}, some values do not fit the column types of the first rows ({e}); they are counted as text"
                        ));
                    }
                    frame
                }
            };
            let stats = stats.get_or_insert_with(|| {
                schema = Some(frame.schema().clone());
                TableStats::new(&frame)
            });
            if first_rows.len() < PREVIEW_ROWS {
                first_rows.extend(preview(&frame).into_iter().take(PREVIEW_ROWS - first_rows.len()));
            }
            stats.update(&frame)?;
        }
        if eof {
            break;
        }
        buf.drain(..end);
        offset += end as u64;
        target = block_bytes;
    }
    let Some(stats) = stats else {
        return profile_frame(&DataFrame::empty(), None, vec!["the file has no records".into()]);
    };
    let (rows, columns) = stats.finish();
    Ok(TableProfile { sheet: None, rows, columns, preview: first_rows, warnings, ..Default::default() })
}

/// How many records end in `bytes`, and where the last one ends (just after a newline outside
/// quotes). `bytes` starts at a record boundary.
fn record_ends(bytes: &[u8]) -> (usize, Option<usize>) {
    let mut in_quotes = false;
    let (mut count, mut last) = (0, None);
    // Only quotes and newlines matter: jump between them (SIMD) instead of visiting every byte.
    for i in memchr::memchr2_iter(b'"', b'\n', bytes) {
        if bytes[i] == b'"' {
            // A doubled quote inside quotes toggles twice: still inside.
            in_quotes = !in_quotes;
        } else if !in_quotes {
            count += 1;
            last = Some(i + 1);
        }
    }
    (count, last)
}

/// One block as a frame: the first with its header and the types inferred from `infer_rows`
/// rows (all when `None`), later ones with the first's schema. The profile asks for
/// [`CSV_INFER_ROWS`] first (ten times polars' usual guess; inferring from a whole 64 MiB
/// block cost 15 % more time on a 1 GB file) and for all rows only when that fails. Invalid UTF-8 is replaced (with a warning naming the first bad byte).
fn parse_block(
    bytes: &[u8],
    separator: u8,
    schema: Option<&SchemaRef>,
    infer_rows: Option<usize>,
    offset: u64,
    warnings: &mut Vec<String>,
) -> PolarsResult<DataFrame> {
    let read = |encoding| {
        let mut options = CsvReadOptions::default()
            .with_has_header(schema.is_none())
            .with_infer_schema_length(infer_rows)
            .map_parse_options(|o| o.with_separator(separator).with_encoding(encoding));
        if let Some(schema) = schema {
            options = options.with_schema(Some(schema.clone()));
        }
        options.into_reader_with_file_handle(std::io::Cursor::new(bytes)).finish()
    };
    match read(CsvEncoding::Utf8) {
        Err(e) if is_utf8_error(&e) => {
            if !warnings.iter().any(|w| w.contains("not valid UTF-8")) {
                let at = std::str::from_utf8(bytes).err().map(|e| offset + e.valid_up_to() as u64);
                let at = at.map(|o| format!(" (the first at byte {o})")).unwrap_or_default();
                warnings.push(format!(
                    "the file is not valid UTF-8{at}; invalid bytes were replaced with U+FFFD. Save it as UTF-8, or convert it to clean CSV"
                ));
            }
            read(CsvEncoding::LossyUtf8)
        }
        other => other,
    }
}

fn preview(frame: &DataFrame) -> Vec<Vec<Option<String>>> {
    let rows = frame.height().min(PREVIEW_ROWS);
    (0..rows)
        .map(|i| {
            frame
                .columns()
                .iter()
                .map(|c| match c.get(i) {
                    Ok(AnyValue::Null) | Err(_) => None,
                    Ok(AnyValue::String(s)) => Some(s.to_string()),
                    Ok(AnyValue::StringOwned(s)) => Some(s.to_string()),
                    Ok(other) => Some(other.to_string()),
                })
                .collect()
        })
        .collect()
}

/// Column names made unique and non-empty: an empty header becomes `column_<n>`, a repeated
/// one gets `_2`, `_3`… (polars frames need unique names; spreadsheets do not).
pub fn unique_names(raw: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for (i, name) in raw.enumerate() {
        let base = if name.trim().is_empty() { format!("column_{}", i + 1) } else { name.trim().to_string() };
        let mut candidate = base.clone();
        let mut n = 1;
        while seen.contains_key(&candidate) {
            n += 1;
            candidate = format!("{base}_{n}");
        }
        seen.insert(candidate.clone(), 1);
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_json_is_refused_before_parsing_and_strings_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("deep.json");
        std::fs::write(&deep, format!("{}{}", "[".repeat(200_000), "]".repeat(200_000))).unwrap();
        let e = check_json_depth(&deep, false).unwrap_err();
        assert!(e.contains("more than 64 levels") && e.contains("byte 64"), "{e}");
        let lines = dir.path().join("deep.ndjson");
        std::fs::write(&lines, format!("{{\"a\": 1}}\n{}\n", "{\"a\":".repeat(100))).unwrap();
        let e = check_json_depth(&lines, true).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        // An open string on one line does not hide the next line's nesting.
        let hidden = dir.path().join("hidden.ndjson");
        std::fs::write(&hidden, format!("{{\"a\": \"open\n{}\n", "[".repeat(100))).unwrap();
        let e = check_json_depth(&hidden, true).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let fine = dir.path().join("fine.json");
        std::fs::write(&fine, format!("[{{\"s\": \"{}\\\"]\"}}]", "[{".repeat(100))).unwrap();
        check_json_depth(&fine, false).unwrap();
    }

    #[test]
    fn a_parquet_footer_longer_than_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.parquet");
        let mut bytes = b"PAR1".to_vec();
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(b"PAR1");
        std::fs::write(&p, &bytes).unwrap();
        let e = check_parquet_footer(&p).unwrap_err();
        assert!(e.contains("declares 4294967295 bytes") && e.contains("has 20 bytes"), "{e}");
    }

    #[test]
    fn names_become_unique_and_non_empty() {
        let raw = ["a", "", "a", " b ", "a"].map(String::from);
        assert_eq!(unique_names(raw.into_iter()), ["a", "column_2", "a_2", "b", "a_3"]);
    }

    fn csv_file(text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn tiny_blocks_give_the_same_profile_as_one_block() {
        // Quoted newlines and doubled quotes across block ends, CRLF, a header longer than a block.
        let text = b"objective_name,score,note\r\nGrow,1,\"two\nlines\"\r\nShip,2,\"say \"\"hi\"\"\"\r\nGrow,3,\r\n\"Hire\nfast\",4,x\r\n";
        let (_dir, path) = csv_file(text);
        let whole = profile_csv_in_blocks(&path, b',', 1 << 20, 1 << 20).unwrap();
        assert_eq!(whole.rows, 4);
        assert_eq!(whole.columns[1].dtype, "i64");
        for block in [1, 7, 16, 40] {
            let split = profile_csv_in_blocks(&path, b',', block, 1 << 20).unwrap();
            assert_eq!(split, whole, "block of {block} bytes");
        }
        assert_eq!(whole.preview[1][2].as_deref(), Some("say \"hi\""));
        assert_eq!(whole.preview[3][0].as_deref(), Some("Hire\nfast"));
    }

    #[test]
    fn types_come_from_the_whole_first_block() {
        // 20,000 whole numbers, then a decimal and a word: beyond polars' usual 10,000-row guess.
        let mut text = String::from("n,label\n");
        for i in 0..20_000 {
            text.push_str(&format!("{i},{i}\n"));
        }
        text.push_str("1.5,n/a\n");
        let (_dir, path) = csv_file(text.as_bytes());
        let profile = profile_csv(&path, b',').unwrap();
        assert_eq!(profile.rows, 20_001);
        assert_eq!((profile.columns[0].dtype.as_str(), profile.columns[1].dtype.as_str()), ("f64", "str"));
        assert_eq!(profile.columns[0].numbers.as_ref().unwrap().max, 19_999.0);
    }

    #[test]
    fn a_late_misfit_in_the_first_block_widens_its_types() {
        // Past the first 100,000 rows but inside the first block: inferred from the whole block.
        let mut text = String::from("n\n");
        for i in 0..100_500 {
            text.push_str(&format!("{i}\n"));
        }
        text.push_str("n/a\n");
        let (_dir, path) = csv_file(text.as_bytes());
        let profile = profile_csv(&path, b',').unwrap();
        assert_eq!((profile.rows, profile.columns[0].dtype.as_str()), (100_501, "str"));
    }

    #[test]
    fn text_in_a_number_column_later_on_is_counted_as_text() {
        // Tiny blocks: the types come from the first record; later blocks bring a decimal
        // (still a number) and words (text) into the integer column.
        let text = b"n,label\n1,a\n2,b\n2.5,c\nn/a,d\n4,e\nn/a,f\n";
        let (_dir, path) = csv_file(text);
        let profile = profile_csv_in_blocks(&path, b',', 4, 1 << 20).unwrap();
        assert_eq!(profile.rows, 6);
        let n = &profile.columns[0];
        assert_eq!(n.dtype, "i64 and text");
        let numbers = n.numbers.as_ref().unwrap();
        assert_eq!((numbers.min, numbers.max), (1.0, 4.0));
        assert!((numbers.mean - 2.375).abs() < 1e-12);
        assert_eq!(n.top, vec![("n/a".to_string(), 2)]);
        assert_eq!(n.distinct, 5);
        assert!(
            profile.warnings[0].contains("after record 2") && profile.warnings[0].contains("counted as text"),
            "{:?}",
            profile.warnings
        );
    }

    #[test]
    fn an_unclosed_quote_is_reported_not_read_forever() {
        let mut text = b"a,b\n1,\"open\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 64));
        let (_dir, path) = csv_file(&text);
        let err = profile_csv_in_blocks(&path, b',', 8, 32).unwrap_err();
        assert!(
            err.contains("no record ends within") && err.contains("after byte 4") && err.contains("quote"),
            "{err}"
        );
    }

    #[test]
    fn the_first_invalid_utf8_byte_is_found_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        // 3-byte characters: the 1 MiB block ends inside one, which must carry over.
        let mut bytes = "€".repeat(400_000).into_bytes();
        bytes.push(0xFF);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(first_invalid_utf8(&path), Some(1_200_000));
        std::fs::write(&path, "valid ü").unwrap();
        assert_eq!(first_invalid_utf8(&path), None);
    }
}
