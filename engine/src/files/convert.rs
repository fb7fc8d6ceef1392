//! Conversions of tabular files: to Parquet, or to clean CSV (UTF-8, comma-separated,
//! normalised column names). Written through a `.part` file, so a failed conversion leaves
//! nothing behind.

use std::path::Path;

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::profile::{excel, tables};
use super::{Conversion, FileKind};

/// Why a conversion did not happen: the source cannot be read as asked (the caller's to fix),
/// or the output could not be written (the server's).
#[derive(Debug)]
pub enum ConvertError {
    Input(String),
    Output(String),
}

/// A finished output file.
pub struct Output {
    pub bytes: u64,
    pub sha256: String,
    /// The Excel sheet that was converted.
    pub sheet: Option<String>,
}

/// Converts the file at `source` into `<dir>/<id>`.
pub fn convert(
    source: &Path,
    kind: FileKind,
    sheet: Option<&str>,
    to: Conversion,
    dir: &Path,
    id: &str,
) -> Result<Output, ConvertError> {
    use ConvertError::{Input, Output as Writing};
    if !kind.is_tabular() {
        return Err(Input(format!("{} is not a table; only tables convert to {}", kind.description(), to.label())));
    }
    let (mut frame, sheet) = match kind {
        FileKind::Xlsx | FileKind::Xls => {
            let (name, frame) = excel::read_sheet(source, sheet).map_err(Input)?;
            (frame, Some(name))
        }
        _ => {
            if sheet.is_some() {
                return Err(Input(format!(
                    "a sheet can only be chosen for Excel workbooks, not for {}",
                    kind.description()
                )));
            }
            (tables::read(source, kind).map_err(Input)?.frame, None)
        }
    };
    let part = dir.join(format!("{id}.part"));
    let result = write(&mut frame, to, &part).and_then(|locked| {
        // Renamed while locked, like an upload: the start-up sweep leaves a locked .part alone.
        let path = dir.join(id);
        let renamed = std::fs::rename(&part, &path).map_err(|e| format!("could not store the output: {e}"));
        drop(locked);
        renamed?;
        hash(&path)
    });
    match result {
        Ok((bytes, sha256)) => Ok(Output { bytes, sha256, sheet }),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            let _ = std::fs::remove_file(dir.join(id));
            Err(Writing(e))
        }
    }
}

/// Writes the output to `part`, locked; the locked file is returned so the lock outlives the rename.
fn write(frame: &mut DataFrame, to: Conversion, part: &Path) -> Result<std::fs::File, String> {
    let mut file = std::fs::File::create(part).map_err(|e| format!("could not write the output: {e}"))?;
    file.lock().map_err(|e| format!("could not lock the output: {e}"))?;
    match to {
        Conversion::Parquet => {
            ParquetWriter::new(&mut file).finish(frame).map_err(|e| format!("could not write Parquet: {e}"))?;
        }
        Conversion::CleanCsv => {
            let names = clean_column_names(frame.get_column_names().iter().map(|n| n.as_str()));
            frame.set_column_names(&names).map_err(|e| e.to_string())?;
            CsvWriter::new(&mut file)
                .include_header(true)
                .finish(frame)
                .map_err(|e| format!("could not write CSV: {e}"))?;
        }
    }
    file.sync_all().map_err(|e| format!("could not write the output: {e}"))?;
    Ok(file)
}

fn hash(path: &Path) -> Result<(u64, String), String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Column names as code reads them: lower case, letters and digits joined by single
/// underscores, not starting with a digit, never empty, unique (`_2`, `_3`… on repeats).
pub fn clean_column_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let cleaned = names.enumerate().map(|(i, raw)| {
        let mut out = String::new();
        for c in raw.trim().chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        let out = out.trim_end_matches('_').to_string();
        if out.is_empty() {
            format!("column_{}", i + 1)
        } else if out.starts_with(|c: char| c.is_ascii_digit()) {
            format!("c_{out}")
        } else {
            out
        }
    });
    tables::unique_names(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_normalised_and_unique() {
        let raw = ["Key Result", " Owner (email) ", "2026 Q1", "", "key_result", "Ünïcode Név", "%%"];
        assert_eq!(
            clean_column_names(raw.into_iter()),
            ["key_result", "owner_email", "c_2026_q1", "column_4", "key_result_2", "ünïcode_név", "column_7"]
        );
    }
}
