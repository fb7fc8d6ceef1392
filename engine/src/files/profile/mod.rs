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
