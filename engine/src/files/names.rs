//! The original name of an uploaded file, made safe to keep and to show. It is metadata only:
//! stored files are named by the server, so no part of a path on disk ever comes from a client.
//! Cleaning still matters for what people see and for the name a download suggests.

/// The longest name kept, in bytes (what most file systems allow for one component).
pub const MAX_NAME_BYTES: usize = 255;

const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Characters that change how text is displayed without being visible: zero-width characters
/// and bidirectional overrides (which can make `exe.pdf` read as `fdp.exe`).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A file's original name as kept in the database: the last path component (either slash),
/// without control or invisible formatting characters, without leading or trailing dots and
/// spaces, not a reserved Windows device name, at most [`MAX_NAME_BYTES`] bytes with the
/// extension kept; "unnamed" when nothing is left.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let kept: String = last.chars().filter(|c| !c.is_control() && !is_invisible_format(*c)).collect();
    let trimmed = kept.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return "unnamed".to_string();
    }
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (trimmed, None),
    };
    let reserved = WINDOWS_RESERVED.iter().any(|r| stem.split('.').next().is_some_and(|s| s.eq_ignore_ascii_case(r)));
    let stem = if reserved { format!("_{stem}") } else { stem.to_string() };
    let suffix = ext.map(|e| format!(".{e}")).unwrap_or_default();
    let budget = MAX_NAME_BYTES.saturating_sub(suffix.len());
    let mut cut = stem.len().min(budget);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_dropped_whichever_slash() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("/abs/path/okrs.csv"), "okrs.csv");
        assert_eq!(clean_name("C:\\Users\\me\\okrs.csv"), "okrs.csv");
        assert_eq!(clean_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(clean_name("dir/"), "unnamed");
    }

    #[test]
    fn encoded_traversal_stays_a_harmless_literal() {
        // Never decoded: it is a name to show, not a path to open.
        assert_eq!(clean_name("%2e%2e%2fsecret.csv"), "%2e%2e%2fsecret.csv");
    }

    #[test]
    fn control_and_invisible_characters_go() {
        assert_eq!(clean_name("re\0port\n.csv"), "report.csv");
        assert_eq!(clean_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean_name("\u{200B}okrs.csv"), "okrs.csv");
        assert_eq!(clean_name(" .. "), "unnamed");
        assert_eq!(clean_name("..."), "unnamed");
    }

    #[test]
    fn reserved_windows_names_are_prefixed() {
        assert_eq!(clean_name("CON.csv"), "_CON.csv");
        assert_eq!(clean_name("lpt1"), "_lpt1");
        assert_eq!(clean_name("nul.tar.gz"), "_nul.tar.gz");
        assert_eq!(clean_name("console.csv"), "console.csv");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.csv", "é".repeat(1000));
        let cleaned = clean_name(&long);
        assert!(cleaned.len() <= MAX_NAME_BYTES, "{}", cleaned.len());
        assert!(cleaned.ends_with(".csv"));
        assert!(cleaned.starts_with('é'));
    }

    #[test]
    fn look_alike_unicode_is_kept_as_written() {
        // Cyrillic "о" in place of Latin "o": shown as sent, stored under a server name anyway.
        assert_eq!(clean_name("bоok.csv"), "bоok.csv");
    }
}
