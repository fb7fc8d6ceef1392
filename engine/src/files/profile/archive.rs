//! ZIP, TAR and gzip: what is inside, read without extracting anything to disk, with caps that
//! defeat archive bombs. A zip's central directory and a gzip's trailer say what the archive
//! declares; since a declaration can lie, the content is also decompressed into nothing through
//! a counter that stops at [`MAX_EXPANSION`] times the file's size (at most 2 GiB), and a size
//! that does not hold is named. A compressed tar is listed through the same counter.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::files::{ArchiveEntry, ArchiveProfile, ARCHIVE_LIST_CAP};
use crate::units::format_bytes;

/// Entries read from one archive at most (the list shows the first [`ARCHIVE_LIST_CAP`]).
pub const MAX_ENTRIES: u64 = 100_000;
/// How much larger than the compressed file its decompressed bytes may get while listing.
pub const MAX_EXPANSION: u64 = 100;
/// And at most this much, whatever the file's size: listing must not hold up the profiler.
pub const MAX_DECOMPRESSED: u64 = 2 << 30;
/// A declared ratio above this is reported as a possible archive bomb.
const SUSPICIOUS_RATIO: u64 = 100;

#[derive(Default)]
struct Listing {
    profile: ArchiveProfile,
}

impl Listing {
    fn add(&mut self, entry: ArchiveEntry) {
        self.profile.total_entries += 1;
        self.profile.total_size = self.profile.total_size.saturating_add(entry.size);
        if self.profile.entries.len() < ARCHIVE_LIST_CAP {
            self.profile.entries.push(entry);
        }
    }

    fn finish(mut self, file_bytes: u64) -> ArchiveProfile {
        let p = &mut self.profile;
        if p.total_entries as usize > p.entries.len() {
            p.notes.push(format!("{} entries; the first {} are listed", p.total_entries, p.entries.len()));
        }
        if file_bytes > 0 && p.total_size / file_bytes.max(1) > SUSPICIOUS_RATIO {
            p.notes.push(format!(
                "declares {} of content in {} (a ratio of {}:1): a possible archive bomb; nothing was extracted",
                format_bytes(p.total_size),
                format_bytes(file_bytes),
                p.total_size / file_bytes.max(1)
            ));
        }
        self.profile
    }
}

pub fn profile_zip(path: &Path) -> Result<ArchiveProfile, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let bytes = file.metadata().map_err(|e| e.to_string())?.len();
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let mut listing = Listing::default();
    let count = archive.len() as u64;
    for i in 0..count.min(MAX_ENTRIES) as usize {
        // The raw entry: its header only, never decompressed.
        let entry = archive.by_index_raw(i).map_err(|e| format!("zip entry {}: {e}", i + 1))?;
        listing.add(ArchiveEntry {
            path: entry
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned()),
            size: entry.size(),
            compressed: Some(entry.compressed_size()),
            is_dir: entry.is_dir(),
        });
    }
    verify_zip_sizes(&mut archive, bytes, &mut listing.profile.notes);
    if count > MAX_ENTRIES {
        listing
            .profile
            .notes
            .push(format!("the archive declares {count} entries; only the first {MAX_ENTRIES} were read"));
        listing.profile.total_entries = count;
    }
    Ok(listing.finish(bytes))
}

/// Decompresses entries (counting, keeping nothing) to check the sizes the central directory
/// declares: an entry that yields more than it declares is named, a possible bomb. Stops at the
/// decompression cap; the note says how many entries were checked.
fn verify_zip_sizes(archive: &mut zip::ZipArchive<File>, file_bytes: u64, notes: &mut Vec<String>) {
    let mut budget = file_bytes.saturating_mul(MAX_EXPANSION).clamp(1 << 20, MAX_DECOMPRESSED);
    let total = archive.len().min(MAX_ENTRIES as usize);
    for i in 0..total {
        let Ok(mut entry) = archive.by_index(i) else { continue };
        if entry.is_dir() {
            continue;
        }
        let declared = entry.size();
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entry {}", i + 1));
        // One byte past the declared size (or the remaining budget) is enough to catch a lie.
        let limit = declared.saturating_add(1).min(budget);
        let read = match std::io::copy(&mut (&mut entry).take(limit), &mut std::io::sink()) {
            Ok(read) => read,
            Err(e) => {
                notes.push(format!("'{name}' does not decompress as its header says ({e}): the archive is damaged or its sizes are wrong"));
                return;
            }
        };
        budget = budget.saturating_sub(read);
        if read > declared {
            notes.push(format!(
                "'{name}' declares {} but decompresses to more: the sizes in the archive are wrong, a possible archive bomb; nothing was extracted",
                format_bytes(declared)
            ));
            return;
        }
        if budget == 0 {
            notes.push(format!(
                "declared sizes checked for the first {} of {total} entries (the cap: {MAX_EXPANSION}× the file, at most 2 GiB)",
                i + 1
            ));
            return;
        }
    }
}

pub fn profile_tar(path: &Path) -> Result<ArchiveProfile, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let bytes = file.metadata().map_err(|e| e.to_string())?.len();
    let mut archive = tar::Archive::new(file);
    // Seeking past each entry's content: nothing is read but the headers.
    let entries = archive.entries_with_seek().map_err(|e| format!("not a readable TAR archive: {e}"))?;
    let mut listing = Listing::default();
    list_tar(entries, &mut listing)?;
    Ok(listing.finish(bytes))
}

fn list_tar<R: Read>(entries: tar::Entries<'_, R>, listing: &mut Listing) -> Result<(), String> {
    for entry in entries {
        if listing.profile.total_entries >= MAX_ENTRIES {
            listing.profile.notes.push(format!("stopped after {MAX_ENTRIES} entries"));
            break;
        }
        let entry = entry.map_err(|e| tar_error(listing, e))?;
        let header = entry.header();
        let path =
            entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| "(unreadable name)".into());
        listing.add(ArchiveEntry {
            path,
            size: header.size().unwrap_or(0),
            compressed: None,
            is_dir: header.entry_type().is_dir(),
        });
    }
    Ok(())
}

fn tar_error(listing: &Listing, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::Other && e.to_string().contains(EXPANSION_STOP) {
        e.to_string()
    } else {
        format!("TAR entry {}: {e}", listing.profile.total_entries + 1)
    }
}

const EXPANSION_STOP: &str = "decompressed bytes reached";

/// A reader that fails once more than `limit` bytes came through it.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(format!(
                "{EXPANSION_STOP} {} (the cap: {MAX_EXPANSION}× the file, at most 2 GiB) and listing stopped: a possible archive bomb",
                format_bytes(self.limit)
            )));
        }
        Ok(n)
    }
}

/// A gzip file: a compressed tar is listed entry by entry (decompressing, capped); any other
/// content is one entry whose size comes from the gzip trailer, without decompressing.
pub fn profile_gz(path: &Path) -> Result<ArchiveProfile, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let bytes = file.metadata().map_err(|e| e.to_string())?.len();
    let mut decoder = flate2::read::GzDecoder::new(File::open(path).map_err(|e| e.to_string())?);
    let mut first = [0u8; 512];
    let got = read_up_to(&mut decoder, &mut first).map_err(|e| format!("not readable gzip data: {e}"))?;
    let inner_name =
        decoder.header().and_then(|h| h.filename()).map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_else(
            || path.file_name().map(|n| n.to_string_lossy().trim_end_matches(".gz").to_string()).unwrap_or_default(),
        );
    let is_tar = got >= 262 && &first[257..262] == b"ustar";
    let mut listing = Listing::default();
    if is_tar {
        let limit = bytes.saturating_mul(MAX_EXPANSION).clamp(1 << 20, MAX_DECOMPRESSED);
        let capped = Capped {
            inner: flate2::read::GzDecoder::new(File::open(path).map_err(|e| e.to_string())?),
            read: 0,
            limit,
        };
        let mut archive = tar::Archive::new(capped);
        let entries = archive.entries().map_err(|e| format!("not a readable TAR archive inside the gzip: {e}"))?;
        if let Err(message) = list_tar(entries, &mut listing) {
            if message.contains(EXPANSION_STOP) {
                listing.profile.notes.push(message);
            } else {
                return Err(message);
            }
        }
        return Ok(listing.finish(bytes));
    }
    // ISIZE: the uncompressed size modulo 4 GiB, in the last four bytes.
    if bytes < 18 {
        return Err("the gzip file is truncated (shorter than its header and trailer)".into());
    }
    let mut trailer = [0u8; 4];
    file.seek(SeekFrom::End(-4)).and_then(|_| file.read_exact(&mut trailer)).map_err(|e| e.to_string())?;
    let declared = u32::from_le_bytes(trailer) as u64;
    // The trailer is the sender's word: decompress (counting, keeping nothing) up to the cap
    // to see whether it holds.
    let limit = bytes.saturating_mul(MAX_EXPANSION).clamp(1 << 20, MAX_DECOMPRESSED);
    let mut counted = Capped {
        inner: flate2::read::MultiGzDecoder::new(File::open(path).map_err(|e| e.to_string())?),
        read: 0,
        limit,
    };
    let outcome = std::io::copy(&mut counted, &mut std::io::sink());
    let (size, note) = match outcome {
        Ok(actual) if actual % (1u64 << 32) == declared => (actual, None),
        Ok(actual) => (
            actual,
            Some(format!(
                "the gzip trailer declares {} but the content decompresses to {}: the trailer is wrong",
                format_bytes(declared),
                format_bytes(actual)
            )),
        ),
        Err(e) if e.to_string().contains(EXPANSION_STOP) => (
            limit,
            Some(format!(
                "the gzip trailer declares {} but the content decompresses to more than {} (the cap: {MAX_EXPANSION}× the file, at most 2 GiB); counting stopped: a possible archive bomb",
                format_bytes(declared),
                format_bytes(limit)
            )),
        ),
        // flate2 checks the trailer's CRC and size at the end: a lie shows up here too.
        Err(e) => (
            declared,
            Some(format!(
                "decompressing stopped after {} ({e}): the data is damaged or the trailer's {} is wrong",
                format_bytes(counted.read),
                format_bytes(declared)
            )),
        ),
    };
    listing.add(ArchiveEntry { path: inner_name, size, compressed: Some(bytes), is_dir: false });
    listing.profile.notes.extend(note);
    Ok(listing.finish(bytes))
}

/// Fills `buf` as far as the reader goes. An error after some bytes ends the fill without
/// failing: a short gzip whose trailer is wrong fails only at its end, and the counting pass
/// reports that with the sizes.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) if filled > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
