//! Files people bring (CSV, Excel, JSON, archives…): which types are accepted and how their
//! content's signature is checked ([`kind`]), how an original name is kept ([`names`]), the
//! browser-safe views of stored files and their profiles (here), and with `runtime`: writing an
//! upload to disk as it streams in ([`store`]), the database records ([`records`]), profiling
//! ([`profile`]: tables with polars, Excel with calamine, archives, PDF, text), conversions to
//! Parquet and clean CSV ([`convert`]), the background profiler ([`profiler`]) that parses each
//! file in a limited child process ([`sandbox`]), and [`Files`], the handle the server uses for
//! all of it.
//!
//! Without `runtime` only plain types and functions remain, so the browser checks a file's type
//! before uploading it with the same rules the server applies.

pub mod kind;
pub mod names;

#[cfg(feature = "runtime")]
pub mod convert;
#[cfg(feature = "runtime")]
mod handle;
#[cfg(feature = "runtime")]
pub mod profile;
#[cfg(feature = "runtime")]
pub mod profiler;
#[cfg(feature = "runtime")]
pub mod records;
#[cfg(feature = "runtime")]
pub mod sandbox;

#[cfg(feature = "runtime")]
pub use handle::{Deleted, Download, FileError, Files, Uploaded, Uploads, DEFAULT_MAX_UPLOAD_BYTES};
pub use kind::FileKind;
#[cfg(feature = "runtime")]
pub use profiler::ProfilerConfig;
#[cfg(feature = "runtime")]
pub use sandbox::ProfileLimits;

use serde::{Deserialize, Serialize};

/// Where a file is in its processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FileStatus {
    Queued,
    Profiling,
    Ready,
    Failed,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Queued => "queued",
            FileStatus::Profiling => "profiling",
            FileStatus::Ready => "ready",
            FileStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<FileStatus> {
        [FileStatus::Queued, FileStatus::Profiling, FileStatus::Ready, FileStatus::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Still being worked on: the page keeps asking until it is not.
    pub fn is_pending(self) -> bool {
        matches!(self, FileStatus::Queued | FileStatus::Profiling)
    }
}

/// What a tabular file can be converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Conversion {
    Parquet,
    /// UTF-8, comma-separated, normalised column names.
    CleanCsv,
}

impl Conversion {
    pub const ALL: [Conversion; 2] = [Conversion::Parquet, Conversion::CleanCsv];

    pub fn as_str(self) -> &'static str {
        match self {
            Conversion::Parquet => "parquet",
            Conversion::CleanCsv => "clean_csv",
        }
    }

    pub fn parse(s: &str) -> Result<Conversion, String> {
        match s {
            "parquet" => Ok(Conversion::Parquet),
            "clean_csv" | "csv" => Ok(Conversion::CleanCsv),
            other => Err(format!("unknown conversion '{other}'; choose parquet or clean_csv")),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Conversion::Parquet => "Parquet",
            Conversion::CleanCsv => "clean CSV",
        }
    }
}

/// Another file, by id and name (a duplicate's original, an output's source).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileRef {
    pub id: String,
    pub name: String,
}

/// One stored file as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileView {
    pub id: String,
    pub name: String,
    pub kind: FileKind,
    pub size_bytes: u64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at_ms: i64,
    pub status: FileStatus,
    /// Why profiling failed (with line and column where the parser knew them).
    pub status_message: Option<String>,
    pub rows: Option<u64>,
    pub columns: Option<u64>,
    pub downloads: u64,
    pub last_download_ms: Option<i64>,
    pub last_download_by: Option<String>,
    /// The earliest other file with the same content.
    pub duplicate_of: Option<FileRef>,
    /// For outputs: the file they were made from (its name stays after it is deleted).
    pub source: Option<FileRef>,
    pub conversion: Option<Conversion>,
}

impl FileView {
    /// How the audit log names the file: "okrs.csv (3f2a…)".
    pub fn audit_target(&self) -> String {
        format!("{} ({})", self.name, self.id)
    }
}

/// What profiling found. Tables: one per CSV/JSON/Parquet file, one per Excel sheet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Profile {
    Tables(Vec<TableProfile>),
    Archive(ArchiveProfile),
    Pdf { pages: u64, title: Option<String> },
    Text { lines: u64, words: u64, encoding: String },
}

impl Profile {
    /// Rows and columns for the file table: the first table's.
    pub fn shape(&self) -> (Option<u64>, Option<u64>) {
        match self {
            Profile::Tables(tables) => match tables.first() {
                Some(t) => (Some(t.rows), Some(t.width())),
                None => (None, None),
            },
            Profile::Text { lines, .. } => (Some(*lines), None),
            _ => (None, None),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TableProfile {
    /// The Excel sheet; `None` for single-table files.
    pub sheet: Option<String>,
    /// Records, not lines: a quoted field may span lines.
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
    /// The first rows, cells as text (`None` is a missing value).
    pub preview: Vec<Vec<Option<String>>>,
    /// Things the reader had to work around (e.g. invalid UTF-8 replaced).
    pub warnings: Vec<String>,
    /// The table's width when it had more columns than were profiled (0: all were).
    #[serde(default)]
    pub total_columns: u64,
    /// In a detail answer, which columns these are: `columns` (and each preview row) start at
    /// column `column_offset` of `profiled_columns`. Stored profiles hold all profiled ones.
    #[serde(default)]
    pub column_offset: u64,
    #[serde(default)]
    pub profiled_columns: u64,
}

impl TableProfile {
    /// The table's width, profiled or not.
    pub fn width(&self) -> u64 {
        self.total_columns.max(self.profiled_columns).max(self.columns.len() as u64)
    }
}

/// Which columns of each table a detail answer carries: a profile may hold up to the
/// profiler's column limit, and a viewer's page asks for a window of them at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnWindow {
    pub offset: u64,
    pub limit: u64,
}

impl ColumnWindow {
    /// The most columns one detail answer carries.
    pub const MAX_LIMIT: u64 = 500;

    /// Refuses windows past the limits, naming the parameter and its range.
    pub fn new(offset: u64, limit: u64) -> Result<ColumnWindow, String> {
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(format!("columns_limit must be between 1 and {}, not {limit}", Self::MAX_LIMIT));
        }
        if offset > 1_000_000 {
            return Err(format!("columns_offset must be between 0 and 1000000, not {offset}"));
        }
        Ok(ColumnWindow { offset, limit })
    }

    /// Keeps this window of a table's columns and preview cells, noting where it starts.
    pub fn apply(&self, table: &mut TableProfile) {
        let total = table.columns.len();
        let from = (self.offset as usize).min(total);
        let to = from.saturating_add(self.limit as usize).min(total);
        table.columns = table.columns.drain(from..to).collect();
        for row in &mut table.preview {
            let to = to.min(row.len());
            *row = row.drain(from.min(to)..to).collect();
        }
        table.column_offset = from as u64;
        table.profiled_columns = total as u64;
    }
}

impl Default for ColumnWindow {
    fn default() -> Self {
        ColumnWindow { offset: 0, limit: 100 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnProfile {
    pub name: String,
    /// The type polars inferred, e.g. `i64`, `f64`, `str`, `bool`, `date`.
    pub dtype: String,
    pub nulls: u64,
    pub distinct: u64,
    pub numbers: Option<NumberStats>,
    /// The most frequent values of a text column with their counts, most frequent first.
    pub top: Vec<(String, u64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Sample standard deviation (n − 1); `None` with fewer than two values.
    pub std: Option<f64>,
    /// NaN and infinite values, left out of the figures above.
    pub non_finite: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveProfile {
    /// Listed entries, at most [`ARCHIVE_LIST_CAP`].
    pub entries: Vec<ArchiveEntry>,
    /// All entries seen (may exceed the list).
    pub total_entries: u64,
    /// The sum of the sizes the archive declares for its contents.
    pub total_size: u64,
    /// Caps that were reached and suspicious ratios, in words.
    pub notes: Vec<String>,
}

/// How many archive entries a profile lists.
pub const ARCHIVE_LIST_CAP: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveEntry {
    pub path: String,
    /// Uncompressed size as declared.
    pub size: u64,
    /// Stored size where the format has one (zip).
    pub compressed: Option<u64>,
    pub is_dir: bool,
}

/// A download as the page's activity list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadView {
    pub file_id: String,
    pub file_name: String,
    pub at_ms: i64,
    pub by: String,
}

/// A file with everything the detail view shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileDetail {
    pub file: FileView,
    pub profile: Option<Profile>,
    /// How long the last profile took, in milliseconds.
    pub profiled_ms: Option<u64>,
    /// Outputs made from this file.
    pub outputs: Vec<FileView>,
    pub downloads: Vec<DownloadView>,
}

/// Columns the file table sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileSort {
    Name,
    Kind,
    Size,
    #[default]
    Uploaded,
    Rows,
    Downloads,
}

impl FileSort {
    pub const ALL: [FileSort; 6] =
        [FileSort::Name, FileSort::Kind, FileSort::Size, FileSort::Uploaded, FileSort::Rows, FileSort::Downloads];

    pub fn as_str(self) -> &'static str {
        match self {
            FileSort::Name => "name",
            FileSort::Kind => "kind",
            FileSort::Size => "size",
            FileSort::Uploaded => "uploaded",
            FileSort::Rows => "rows",
            FileSort::Downloads => "downloads",
        }
    }

    pub fn parse(s: &str) -> Result<FileSort, String> {
        FileSort::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = FileSort::ALL.iter().map(|k| k.as_str()).collect();
            format!("cannot sort files by '{s}'; choose one of {}", names.join(", "))
        })
    }
}

/// The most files one page lists.
pub const MAX_PER_PAGE: u32 = 200;

/// What the file table asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileQuery {
    /// Part of the name, case-insensitive.
    pub name: Option<String>,
    pub kind: Option<FileKind>,
    pub sort: FileSort,
    pub descending: bool,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl Default for FileQuery {
    fn default() -> Self {
        FileQuery { name: None, kind: None, sort: FileSort::Uploaded, descending: true, page: 1, per_page: 25 }
    }
}

impl FileQuery {
    /// The query a caller's parameters ask for (each missing one takes its default; empty
    /// texts mean no filter), or the rule one of them broke. The REST API and the page both
    /// read their parameters through this.
    pub fn parse(
        name: Option<&str>,
        kind: Option<&str>,
        sort: Option<&str>,
        descending: Option<bool>,
        page: Option<u32>,
        per_page: Option<u32>,
    ) -> Result<FileQuery, String> {
        let defaults = FileQuery::default();
        let query = FileQuery {
            name: name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
            kind: kind.filter(|k| !k.is_empty()).map(FileKind::parse).transpose()?,
            sort: sort.filter(|s| !s.is_empty()).map(FileSort::parse).transpose()?.unwrap_or(defaults.sort),
            descending: descending.unwrap_or(defaults.descending),
            page: page.unwrap_or(defaults.page),
            per_page: per_page.unwrap_or(defaults.per_page),
        };
        query.validate()?;
        Ok(query)
    }

    /// Refuses pages outside 1.. and page sizes outside 1..=MAX_PER_PAGE, naming the rule.
    pub fn validate(&self) -> Result<(), String> {
        if self.page == 0 {
            return Err("page starts at 1".into());
        }
        if self.per_page == 0 || self.per_page > MAX_PER_PAGE {
            return Err(format!("per_page must be between 1 and {MAX_PER_PAGE}"));
        }
        Ok(())
    }
}

/// Totals over every stored file (uploads and outputs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileTotals {
    pub files: u64,
    pub bytes: u64,
}

/// One page of the file table, with the totals and the recent activity beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilePage {
    pub files: Vec<FileView>,
    /// Files matching the filter (for paging).
    pub matching: u64,
    pub totals: FileTotals,
    pub recent_uploads: Vec<FileView>,
    pub recent_downloads: Vec<DownloadView>,
    /// The upload size limit in bytes, so the page can say it before sending.
    pub max_upload_bytes: u64,
}
