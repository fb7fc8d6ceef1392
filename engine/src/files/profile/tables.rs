//! Tables with polars: reading CSV, TSV, JSON, NDJSON and Parquet into a `DataFrame`, and the
//! profile of any frame (row count, dtypes, nulls, distinct values, number statistics, the most
//! frequent texts, a preview). Excel sheets become frames in `excel.rs` and are profiled here too.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use crate::files::{ColumnProfile, FileKind, NumberStats, TableProfile};

/// Rows in a profile's preview.
pub const PREVIEW_ROWS: usize = 20;
/// Most frequent values listed per text column.
pub const TOP_VALUES: usize = 5;
/// Rows polars looks at to infer the column types of CSV and JSON.
const INFER_ROWS: usize = 10_000;

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
        FileKind::Json => read_json(path, JsonFormat::Json),
        FileKind::Ndjson => read_json(path, JsonFormat::JsonLines),
        FileKind::Parquet => {
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

fn read_json(path: &Path, format: JsonFormat) -> Result<Read, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let result = JsonReader::new(file)
        .with_json_format(format.clone())
        .infer_schema_len(std::num::NonZeroUsize::new(INFER_ROWS))
        .finish();
    match result {
        Ok(frame) => Ok(Read { frame, warnings: vec![] }),
        // polars' messages rarely say where; serde_json does, for syntax errors.
        Err(e) => Err(json_syntax_error(path, &format).unwrap_or_else(|| format!("could not read the JSON: {e}"))),
    }
}

/// Where the JSON (or which JSON line) is malformed, as "line L, column C: …".
fn json_syntax_error(path: &Path, format: &JsonFormat) -> Option<String> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path).ok()?;
    match format {
        JsonFormat::Json => {
            let reader = std::io::BufReader::new(file);
            match serde_json::from_reader::<_, serde::de::IgnoredAny>(reader) {
                Err(e) if e.is_syntax() || e.is_eof() => Some(format!("invalid JSON at {e}")),
                Err(_) | Ok(_) => None,
            }
        }
        JsonFormat::JsonLines => {
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.ok()?;
                if line.trim().is_empty() {
                    continue;
                }
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&line) {
                    return Some(format!("invalid JSON on line {}, column {}: {e}", i + 1, e.column()));
                }
            }
            None
        }
    }
}

/// The profile of a frame.
pub fn profile_frame(frame: &DataFrame, sheet: Option<String>, warnings: Vec<String>) -> Result<TableProfile, String> {
    let columns = frame.columns().iter().map(profile_column).collect::<Result<Vec<_>, _>>()?;
    Ok(TableProfile { sheet, rows: frame.height() as u64, columns, preview: preview(frame), warnings })
}

fn profile_column(column: &Column) -> Result<ColumnProfile, String> {
    let series = column.as_materialized_series();
    let nulls = series.null_count() as u64;
    let dtype = series.dtype().clone();
    let (distinct, top) = match &dtype {
        DataType::String => {
            let mut counts: HashMap<&str, u64> = HashMap::new();
            for value in series.str().map_err(|e| e.to_string())?.into_iter().flatten() {
                *counts.entry(value).or_default() += 1;
            }
            (counts.len() as u64, top_values(counts.into_iter().map(|(k, v)| (k.to_string(), v))))
        }
        DataType::Boolean => {
            let (mut yes, mut no) = (0u64, 0u64);
            for value in series.bool().map_err(|e| e.to_string())?.into_iter().flatten() {
                if value {
                    yes += 1
                } else {
                    no += 1
                }
            }
            let pairs = [("true".to_string(), yes), ("false".to_string(), no)].into_iter().filter(|(_, n)| *n > 0);
            ((yes > 0) as u64 + (no > 0) as u64, top_values(pairs))
        }
        _ => {
            // n_unique counts null as one value; the profile counts values.
            let unique = series.n_unique().map_err(|e| e.to_string())? as u64;
            (unique - (nulls > 0) as u64, vec![])
        }
    };
    let numbers = if dtype.is_primitive_numeric() { number_stats(series)? } else { None };
    Ok(ColumnProfile { name: series.name().to_string(), dtype: dtype.to_string(), nulls, distinct, numbers, top })
}

fn number_stats(series: &Series) -> Result<Option<NumberStats>, String> {
    let floats = series.cast(&DataType::Float64).map_err(|e| e.to_string())?;
    let (Some(min), Some(max), Some(mean)) = (
        floats.min::<f64>().map_err(|e| e.to_string())?,
        floats.max::<f64>().map_err(|e| e.to_string())?,
        floats.mean(),
    ) else {
        return Ok(None);
    };
    let std = floats.std(1).filter(|s| s.is_finite());
    Ok(Some(NumberStats { min, max, mean, std }))
}

fn top_values(counts: impl Iterator<Item = (String, u64)>) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = counts.collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(TOP_VALUES);
    all
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
    fn names_become_unique_and_non_empty() {
        let raw = ["a", "", "a", " b ", "a"].map(String::from);
        assert_eq!(unique_names(raw.into_iter()), ["a", "column_2", "a_2", "b", "a_3"]);
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
