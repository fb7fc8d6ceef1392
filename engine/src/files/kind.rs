//! Which file types okrflow accepts, and telling them apart: by the name's extension first,
//! then by the content's signature, so an `.xlsx` that is not a zip or a `.pdf` without its
//! header is refused with the reason instead of failing later in a parser.

use serde::{Deserialize, Serialize};

/// An accepted file type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FileKind {
    Csv,
    Tsv,
    Xlsx,
    Xls,
    Json,
    Ndjson,
    Parquet,
    Txt,
    Pdf,
    Zip,
    Tar,
    Gz,
}

impl FileKind {
    pub const ALL: [FileKind; 12] = [
        FileKind::Csv,
        FileKind::Tsv,
        FileKind::Xlsx,
        FileKind::Xls,
        FileKind::Json,
        FileKind::Ndjson,
        FileKind::Parquet,
        FileKind::Txt,
        FileKind::Pdf,
        FileKind::Zip,
        FileKind::Tar,
        FileKind::Gz,
    ];

    /// The extensions that mean this kind (lower case, without the dot).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileKind::Csv => &["csv"],
            FileKind::Tsv => &["tsv", "tab"],
            FileKind::Xlsx => &["xlsx"],
            FileKind::Xls => &["xls"],
            FileKind::Json => &["json"],
            FileKind::Ndjson => &["ndjson", "jsonl"],
            FileKind::Parquet => &["parquet"],
            FileKind::Txt => &["txt", "text", "log"],
            FileKind::Pdf => &["pdf"],
            FileKind::Zip => &["zip"],
            FileKind::Tar => &["tar"],
            FileKind::Gz => &["gz", "tgz"],
        }
    }

    /// The stored and typed form: the kind's first extension (`csv`, `xlsx`, `gz`…).
    pub fn as_str(self) -> &'static str {
        self.extensions()[0]
    }

    /// The kind whose stored form is `s`, or the refusal listing the kinds.
    pub fn parse(s: &str) -> Result<FileKind, String> {
        FileKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = FileKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown file type '{s}'; the types are {}", names.join(", "))
        })
    }

    /// What a person calls it, for the File Manager's type column.
    pub fn description(self) -> &'static str {
        match self {
            FileKind::Csv => "CSV table",
            FileKind::Tsv => "Tab-separated table",
            FileKind::Xlsx => "Excel workbook",
            FileKind::Xls => "Excel 97–2003 workbook",
            FileKind::Json => "JSON document",
            FileKind::Ndjson => "JSON lines",
            FileKind::Parquet => "Parquet table",
            FileKind::Txt => "Text",
            FileKind::Pdf => "PDF document",
            FileKind::Zip => "ZIP archive",
            FileKind::Tar => "TAR archive",
            FileKind::Gz => "Gzip-compressed file",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            FileKind::Csv => "text/csv",
            FileKind::Tsv => "text/tab-separated-values",
            FileKind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            FileKind::Xls => "application/vnd.ms-excel",
            FileKind::Json => "application/json",
            FileKind::Ndjson => "application/x-ndjson",
            FileKind::Parquet => "application/vnd.apache.parquet",
            FileKind::Txt => "text/plain",
            FileKind::Pdf => "application/pdf",
            FileKind::Zip => "application/zip",
            FileKind::Tar => "application/x-tar",
            FileKind::Gz => "application/gzip",
        }
    }

    /// Tables that can be profiled row by row and converted to Parquet or clean CSV.
    pub fn is_tabular(self) -> bool {
        matches!(
            self,
            FileKind::Csv
                | FileKind::Tsv
                | FileKind::Xlsx
                | FileKind::Xls
                | FileKind::Json
                | FileKind::Ndjson
                | FileKind::Parquet
        )
    }

    /// The kind a file name's extension claims, or the refusal listing what is accepted.
    pub fn from_name(name: &str) -> Result<FileKind, String> {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        FileKind::ALL.into_iter().find(|k| k.extensions().contains(&ext.as_str())).ok_or_else(|| {
            let accepted: Vec<&str> = FileKind::ALL.iter().map(|k| k.extensions()[0]).collect();
            if ext.is_empty() {
                format!("'{name}' has no extension; accepted types: {}", accepted.join(", "))
            } else {
                format!("'{name}': .{ext} files are not accepted; accepted types: {}", accepted.join(", "))
            }
        })
    }

    /// Whether the first bytes of the content (at least 512 where the file has them; 265 suffice
    /// for TAR's signature) fit this kind; the error says what was expected. Text kinds accept
    /// anything that is not another kind's binary signature: their parsers report bad content
    /// with line and column.
    pub fn check_signature(self, head: &[u8]) -> Result<(), String> {
        let starts = |magic: &[u8]| head.starts_with(magic);
        let expected = match self {
            FileKind::Xlsx | FileKind::Zip => (starts(b"PK\x03\x04") || starts(b"PK\x05\x06")).then_some(()).ok_or(
                if self == FileKind::Xlsx {
                    "an .xlsx workbook is a zip archive, but this file does not start with the zip signature PK\\x03\\x04"
                } else {
                    "a .zip archive starts with PK\\x03\\x04 (or PK\\x05\\x06 when empty); this file does not"
                },
            ),
            FileKind::Xls => starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
                .then_some(())
                .ok_or("an .xls workbook is an OLE2 compound file (D0 CF 11 E0 …); this file is not"),
            FileKind::Parquet => starts(b"PAR1").then_some(()).ok_or("a Parquet file starts with PAR1; this one does not"),
            FileKind::Pdf => {
                // The header may follow a little leading junk; readers look in the first KiB.
                let window = &head[..head.len().min(1024)];
                window.windows(5).any(|w| w == b"%PDF-").then_some(()).ok_or("a PDF starts with %PDF-; this file does not")
            }
            FileKind::Gz => starts(&[0x1F, 0x8B]).then_some(()).ok_or("a gzip file starts with 1F 8B; this file does not"),
            FileKind::Tar => (head.len() >= 262 && &head[257..262] == b"ustar")
                .then_some(())
                .ok_or("a TAR archive has 'ustar' at byte 257; this file does not"),
            FileKind::Csv | FileKind::Tsv | FileKind::Json | FileKind::Ndjson | FileKind::Txt => {
                match binary_signature(head) {
                    Some(other) => Err(match other {
                        "zip" => "this looks like a zip archive (or an Excel workbook), not text",
                        "pdf" => "this looks like a PDF, not text",
                        "gzip" => "this looks like gzip-compressed data, not text",
                        "parquet" => "this looks like a Parquet file, not text",
                        _ => "this looks like an Excel 97–2003 workbook, not text",
                    }),
                    None => Ok(()),
                }
            }
        };
        expected.map_err(|why| format!("{} (.{}): {why}", self.description(), self.extensions()[0]))
    }
}

/// The binary format a head of bytes announces, if any.
fn binary_signature(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"PK\x03\x04") {
        Some("zip")
    } else if starts(b"%PDF-") {
        Some("pdf")
    } else if starts(&[0x1F, 0x8B]) {
        Some("gzip")
    } else if starts(b"PAR1") {
        Some("parquet")
    } else if starts(&[0xD0, 0xCF, 0x11, 0xE0]) {
        Some("ole")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_decide_the_claimed_kind_case_insensitively() {
        assert_eq!(FileKind::from_name("okrs.CSV"), Ok(FileKind::Csv));
        assert_eq!(FileKind::from_name("a.b.jsonl"), Ok(FileKind::Ndjson));
        assert_eq!(FileKind::from_name("backup.tgz"), Ok(FileKind::Gz));
        let err = FileKind::from_name("run.exe").unwrap_err();
        assert!(err.contains(".exe files are not accepted") && err.contains("csv, tsv, xlsx"), "{err}");
        assert!(FileKind::from_name("README").unwrap_err().contains("has no extension"));
    }

    #[test]
    fn signatures_must_match_the_claim() {
        assert!(FileKind::Xlsx.check_signature(b"PK\x03\x04rest").is_ok());
        let err = FileKind::Xlsx.check_signature(b"name,score\n").unwrap_err();
        assert!(err.contains("Excel workbook (.xlsx)") && err.contains("zip signature"), "{err}");
        assert!(FileKind::Pdf.check_signature(b"%PDF-1.7\n").is_ok());
        assert!(FileKind::Pdf.check_signature(b"hello").unwrap_err().contains("%PDF-"));
        assert!(FileKind::Parquet.check_signature(b"PAR1....").is_ok());
        assert!(FileKind::Gz.check_signature(&[0x1F, 0x8B, 8]).is_ok());
        assert!(FileKind::Xls.check_signature(b"PK\x03\x04").is_err());

        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(FileKind::Tar.check_signature(&tar).is_ok());
        assert!(FileKind::Tar.check_signature(&[0u8; 100]).is_err(), "too short is not a tar");
    }

    #[test]
    fn text_kinds_refuse_binary_content_but_accept_any_text() {
        assert!(FileKind::Csv.check_signature(b"objective,kr,progress\n").is_ok());
        assert!(FileKind::Csv.check_signature(b"").is_ok(), "an empty file is profiled, not refused here");
        assert!(FileKind::Txt.check_signature(&[0xFF, 0xFE, 0x41]).is_ok(), "encoding is the profiler's business");
        let err = FileKind::Csv.check_signature(b"PK\x03\x04").unwrap_err();
        assert!(err.contains("looks like a zip archive"), "{err}");
        assert!(FileKind::Json.check_signature(b"%PDF-1.4").unwrap_err().contains("PDF"));
    }

    #[test]
    fn every_kind_has_a_description_a_mime_type_and_an_extension() {
        for kind in FileKind::ALL {
            assert!(!kind.description().is_empty() && kind.mime().contains('/') && !kind.extensions().is_empty());
        }
        assert!(FileKind::Parquet.is_tabular() && !FileKind::Pdf.is_tabular());
    }
}
