//! Column statistics that merge across blocks of rows: nulls, exact distinct counts, the most
//! frequent texts, and min/max/mean/std of numbers (Chan's parallel update, so a table read in
//! blocks gets the same figures as one read whole). Columns are updated on all cores at once.

use std::hash::BuildHasher;

use polars::prelude::*;

use crate::files::{ColumnProfile, NumberStats};

/// Most frequent values listed per text column.
pub const TOP_VALUES: usize = 5;

/// One column's statistics so far.
pub struct ColumnStats {
    name: String,
    dtype: DataType,
    nulls: u64,
    /// NaN and infinite values (left out of the moments).
    non_finite: u64,
    numbers: Option<Moments>,
    /// Text (and boolean, and any other non-numeric) values with their counts.
    texts: TextCounts,
    /// Distinct numbers by their bits (integers as f64 are exact below 2^53).
    distinct_numbers: PlHashSet<u64>,
}

#[derive(Clone, Copy)]
struct Moments {
    n: u64,
    min: f64,
    max: f64,
    mean: f64,
    /// Sum of squared differences from the mean.
    m2: f64,
}

impl Moments {
    /// Chan et al.: the moments of two disjoint sets combined.
    fn merge(self, other: Moments) -> Moments {
        if self.n == 0 {
            return other;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        let mean = self.mean + delta * other.n as f64 / n as f64;
        let m2 = self.m2 + other.m2 + delta * delta * self.n as f64 * other.n as f64 / n as f64;
        Moments { n, min: self.min.min(other.min), max: self.max.max(other.max), mean, m2 }
    }
}

impl ColumnStats {
    pub fn new(name: &str, dtype: &DataType) -> ColumnStats {
        ColumnStats {
            name: name.to_string(),
            dtype: dtype.clone(),
            nulls: 0,
            non_finite: 0,
            numbers: None,
            texts: TextCounts::default(),
            distinct_numbers: PlHashSet::default(),
        }
    }

    /// Adds a block of this column's values.
    pub fn update(&mut self, column: &Column) -> Result<(), String> {
        let series = column.as_materialized_series();
        self.nulls += series.null_count() as u64;
        let dtype = series.dtype();
        if dtype.is_primitive_numeric() {
            let floats = series.cast(&DataType::Float64).map_err(|e| e.to_string())?;
            self.add_numbers(floats.f64().map_err(|e| e.to_string())?);
        } else if self.dtype.is_primitive_numeric() && dtype == &DataType::String {
            // A block read as text because some values stopped fitting this column's number
            // type: what still parses is a number, the rest is counted as text.
            let texts = series.str().map_err(|e| e.to_string())?;
            let floats = series.cast(&DataType::Float64).map_err(|e| e.to_string())?;
            let numbers = floats.f64().map_err(|e| e.to_string())?;
            self.add_numbers(numbers);
            for (text, number) in texts.iter().zip(numbers.iter()) {
                if let (Some(text), None) = (text, number) {
                    self.texts.add(text);
                }
            }
        } else if let Ok(texts) = series.str() {
            for v in texts.iter().flatten() {
                self.texts.add(v);
            }
        } else if let Ok(flags) = series.bool() {
            for v in flags.iter().flatten() {
                self.texts.add(if v { "true" } else { "false" });
            }
        } else {
            // Dates, lists, structs…: counted by their text form.
            let texts = series.cast(&DataType::String).map_err(|e| e.to_string())?;
            for v in texts.str().map_err(|e| e.to_string())?.iter().flatten() {
                self.texts.add(v);
            }
        }
        Ok(())
    }

    /// One pass: the block's moments over finite values (Welford), NaN and ±∞ counted apart so
    /// they cannot turn the mean into NaN; every value counts as distinct.
    fn add_numbers(&mut self, values: &Float64Chunked) {
        let mut block = Moments { n: 0, min: f64::INFINITY, max: f64::NEG_INFINITY, mean: 0.0, m2: 0.0 };
        for v in values.iter().flatten() {
            if v.is_finite() {
                block.n += 1;
                let delta = v - block.mean;
                block.mean += delta / block.n as f64;
                block.m2 += delta * (v - block.mean);
                block.min = block.min.min(v);
                block.max = block.max.max(v);
            } else {
                self.non_finite += 1;
            }
            // One NaN and one zero, whatever their bits.
            let v = if v.is_nan() { f64::NAN } else { v + 0.0 };
            self.distinct_numbers.insert(v.to_bits());
        }
        if block.n > 0 {
            self.numbers = Some(self.numbers.map_or(block, |m| m.merge(block)));
        }
    }

    pub fn finish(self) -> ColumnProfile {
        let numbers = self.numbers.map(|m| NumberStats {
            min: m.min,
            max: m.max,
            mean: m.mean,
            std: (m.n > 1).then(|| (m.m2 / (m.n - 1) as f64).sqrt()).filter(|s| s.is_finite()),
            non_finite: self.non_finite,
        });
        let numeric = self.dtype.is_primitive_numeric();
        let distinct = (self.texts.len() + if numeric { self.distinct_numbers.len() } else { 0 }) as u64;
        // A number column with some text in it says so (its top values are those texts).
        let dtype = match (numeric, self.texts.len()) {
            (true, n) if n > 0 => format!("{} and text", self.dtype),
            _ => self.dtype.to_string(),
        };
        let top = self.texts.top(TOP_VALUES);
        ColumnProfile { name: self.name, dtype, nulls: self.nulls, distinct, numbers, top }
    }
}

/// Distinct texts with their counts. The bytes of every distinct value live in one growing
/// arena and the table holds (hash, offset, length, count), so a new value costs no allocation
/// of its own and the end frees one buffer, not millions (a column of unique keys made malloc
/// and free a fifth of the profile's time).
#[derive(Default)]
struct TextCounts {
    table: hashbrown::HashTable<TextEntry>,
    arena: Vec<u8>,
    hasher: PlRandomState,
}

struct TextEntry {
    hash: u64,
    offset: usize,
    len: u32,
    count: u64,
}

impl TextCounts {
    fn add(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let hash = self.hasher.hash_one(bytes);
        let arena = &self.arena;
        let found =
            self.table.find_mut(hash, |e| e.hash == hash && &arena[e.offset..e.offset + e.len as usize] == bytes);
        match found {
            Some(entry) => entry.count += 1,
            None => {
                let offset = self.arena.len();
                self.arena.extend_from_slice(bytes);
                let entry = TextEntry { hash, offset, len: bytes.len() as u32, count: 1 };
                self.table.insert_unique(hash, entry, |e| e.hash);
            }
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn text(&self, e: &TextEntry) -> &str {
        // Only whole `&str`s were copied in, so the slice is valid UTF-8.
        std::str::from_utf8(&self.arena[e.offset..e.offset + e.len as usize]).unwrap_or("")
    }

    /// The `n` most frequent values, most frequent first (ties by value).
    fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(&str, u64)> = self.table.iter().map(|e| (self.text(e), e.count)).collect();
        let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if all.len() > n {
            all.select_nth_unstable_by(n - 1, order);
            all.truncate(n);
        }
        all.sort_unstable_by(order);
        all.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// Every column's statistics for a table read in one or more blocks.
pub struct TableStats {
    pub columns: Vec<ColumnStats>,
    pub rows: u64,
}

impl TableStats {
    pub fn new(frame: &DataFrame) -> TableStats {
        let columns = frame.columns().iter().map(|c| ColumnStats::new(c.name(), c.dtype())).collect();
        TableStats { columns, rows: 0 }
    }

    /// Adds a block of rows (same columns as the first), spreading the columns over the cores.
    pub fn update(&mut self, frame: &DataFrame) -> Result<(), String> {
        if frame.width() != self.columns.len() {
            return Err(format!("a block has {} columns, the table {}", frame.width(), self.columns.len()));
        }
        self.rows += frame.height() as u64;
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(self.columns.len()).max(1);
        let mut work: Vec<Vec<(&mut ColumnStats, &Column)>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, pair) in self.columns.iter_mut().zip(frame.columns()).enumerate() {
            work[i % threads].push(pair);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .into_iter()
                .map(|batch| {
                    scope.spawn(move || batch.into_iter().try_for_each(|(stats, column)| stats.update(column)))
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().map_err(|_| "a column could not be profiled".to_string())?)
        })
    }

    pub fn finish(self) -> (u64, Vec<ColumnProfile>) {
        (self.rows, self.columns.into_iter().map(ColumnStats::finish).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_merge_to_the_figures_of_the_whole() {
        let whole = DataFrame::new(
            6,
            vec![
                Column::new("x".into(), [Some(1.0), Some(2.0), None, Some(4.0), Some(4.0), Some(10.0)]),
                Column::new("t".into(), ["a", "b", "a", "c", "a", "b"]),
            ],
        )
        .unwrap();
        let mut one = TableStats::new(&whole);
        one.update(&whole).unwrap();
        let mut split = TableStats::new(&whole);
        split.update(&whole.slice(0, 2)).unwrap();
        split.update(&whole.slice(2, 4)).unwrap();
        let (rows_a, a) = one.finish();
        let (rows_b, b) = split.finish();
        assert_eq!((rows_a, rows_b), (6, 6));
        let (x, y) = (a[0].numbers.clone().unwrap(), b[0].numbers.clone().unwrap());
        assert_eq!((x.min, x.max), (1.0, 10.0));
        assert!((x.mean - 4.2).abs() < 1e-12, "{}", x.mean);
        assert!((x.std.unwrap() - y.std.unwrap()).abs() < 1e-12 && (x.mean - y.mean).abs() < 1e-12);
        assert!((x.std.unwrap() - 3.49285).abs() < 1e-4, "{:?}", x.std);
        assert_eq!((a[0].nulls, a[0].distinct, b[0].distinct), (1, 4, 4));
        assert_eq!(b[1].top, vec![("a".to_string(), 3), ("b".to_string(), 2), ("c".to_string(), 1)]);
        assert_eq!(b[1].distinct, 3);
    }

    #[test]
    fn nan_and_infinity_are_counted_apart_from_the_moments() {
        let frame = DataFrame::new(
            4,
            vec![Column::new("x".into(), [Some(1.0), Some(f64::NAN), Some(f64::INFINITY), Some(3.0)])],
        )
        .unwrap();
        let mut stats = TableStats::new(&frame);
        stats.update(&frame).unwrap();
        let (_, columns) = stats.finish();
        let n = columns[0].numbers.clone().unwrap();
        assert_eq!((n.min, n.max, n.mean, n.non_finite), (1.0, 3.0, 2.0, 2));
        assert_eq!(columns[0].distinct, 4);
        // The profile survives a JSON round trip (NaN would have become null).
        let json = serde_json::to_string(&columns[0]).unwrap();
        assert_eq!(serde_json::from_str::<ColumnProfile>(&json).unwrap(), columns[0]);
    }
}
