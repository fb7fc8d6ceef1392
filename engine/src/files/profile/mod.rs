//! Profiling a stored file: what is inside it, by kind. Blocking work (polars, calamine,
//! lopdf, decompression): the profiler runs it on tokio's blocking pool, one file at a time.

pub mod archive;
pub mod excel;
pub mod pdf;
pub mod stats;
pub mod tables;
pub mod text;

use std::path::Path;

use super::{FileKind, Profile};

/// Bounds a profile whatever the input: at most `max_columns` columns per table (the rest are
/// counted in a warning) and no text longer than `max_chars` characters (cut with "…"). A
/// one-line JSON of 300 MB or a CSV with 100,000 columns gives a profile of a few megabytes
/// at most, which every viewer of the file's detail can afford.
pub fn bound(profile: &mut Profile, max_columns: usize, max_chars: usize) {
    let cut = |s: &mut String| cut_text(s, max_chars);
    match profile {
        Profile::Tables(tables) => {
            for table in tables {
                let total = table.columns.len();
                if total > max_columns {
                    table.total_columns = total as u64;
                    table.columns.truncate(max_columns);
                    for row in &mut table.preview {
                        row.truncate(max_columns);
                    }
                    table.warnings.push(format!(
                        "the table has {total} columns; the first {max_columns} are profiled (--profile-max-columns)"
                    ));
                }
                let mut long = false;
                for column in &mut table.columns {
                    long |= cut_text(&mut column.name, max_chars);
                    for (value, _) in &mut column.top {
                        long |= cut_text(value, max_chars);
                    }
                }
                for cell in table.preview.iter_mut().flatten().flatten() {
                    long |= cut_text(cell, max_chars);
                }
                if let Some(sheet) = &mut table.sheet {
                    cut(sheet);
                }
                if long {
                    table.warnings.push(format!(
                        "texts longer than {max_chars} characters are shown cut, ending in \"…\" (--profile-max-text)"
                    ));
                }
            }
        }
        Profile::Archive(archive) => {
            for entry in &mut archive.entries {
                cut(&mut entry.path);
            }
        }
        Profile::Pdf { title, .. } => {
            if let Some(title) = title {
                cut(title);
            }
        }
        Profile::Text { .. } => {}
    }
}

/// Cuts `s` to `max` characters plus "…"; true if it was longer.
pub fn cut_text(s: &mut String, max: usize) -> bool {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            s.truncate(at);
            s.push('…');
            true
        }
        None => false,
    }
}

/// The profile of the file at `path`, or the parser's message.
pub fn profile(path: &Path, kind: FileKind) -> Result<Profile, String> {
    match kind {
        FileKind::Csv => Ok(Profile::Tables(vec![tables::profile_csv(path, b',')?])),
        FileKind::Tsv => Ok(Profile::Tables(vec![tables::profile_csv(path, b'\t')?])),
        FileKind::Json | FileKind::Ndjson | FileKind::Parquet => {
            let read = tables::read(path, kind)?;
            Ok(Profile::Tables(vec![tables::profile_frame(&read.frame, None, read.warnings)?]))
        }
        FileKind::Xlsx | FileKind::Xls => Ok(Profile::Tables(excel::profile(path)?)),
        FileKind::Zip => Ok(Profile::Archive(archive::profile_zip(path)?)),
        FileKind::Tar => Ok(Profile::Archive(archive::profile_tar(path)?)),
        FileKind::Gz => Ok(Profile::Archive(archive::profile_gz(path)?)),
        FileKind::Pdf => {
            let (pages, title) = pdf::profile(path)?;
            Ok(Profile::Pdf { pages, title })
        }
        FileKind::Txt => {
            let counts = text::profile(path)?;
            Ok(Profile::Text { lines: counts.lines, words: counts.words, encoding: counts.encoding })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{ColumnProfile, TableProfile};

    fn column(name: &str) -> ColumnProfile {
        ColumnProfile { name: name.into(), dtype: "str".into(), nulls: 0, distinct: 1, numbers: None, top: vec![] }
    }

    #[test]
    fn wide_tables_and_long_texts_are_bounded_with_a_note() {
        let long = "é".repeat(500);
        let mut columns: Vec<ColumnProfile> = (0..5).map(|i| column(&format!("c{i}"))).collect();
        columns[0].top = vec![(long.clone(), 3)];
        let preview = vec![(0..5).map(|i| Some(if i == 1 { long.clone() } else { "x".into() })).collect()];
        let mut profile =
            Profile::Tables(vec![TableProfile { sheet: None, rows: 1, columns, preview, ..Default::default() }]);
        bound(&mut profile, 3, 10);
        let Profile::Tables(tables) = &profile else { panic!() };
        let t = &tables[0];
        assert_eq!(t.columns.len(), 3);
        assert_eq!((t.total_columns, t.width()), (5, 5));
        assert_eq!(t.preview[0].len(), 3);
        assert_eq!(t.columns[0].top[0].0, format!("{}…", "é".repeat(10)));
        assert_eq!(t.preview[0][1].as_deref(), Some(format!("{}…", "é".repeat(10)).as_str()));
        assert!(t.warnings[0].contains("5 columns; the first 3"), "{:?}", t.warnings);
        assert!(t.warnings[1].contains("longer than 10 characters"), "{:?}", t.warnings);
    }

    #[test]
    fn a_profile_within_the_bounds_is_left_as_it_is() {
        let mut profile = Profile::Tables(vec![TableProfile {
            sheet: Some("S".into()),
            rows: 1,
            columns: vec![column("a")],
            preview: vec![vec![Some("x".into())]],
            ..Default::default()
        }]);
        let before = profile.clone();
        bound(&mut profile, 3, 10);
        assert_eq!(profile, before);
    }
}
