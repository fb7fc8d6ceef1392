//! Excel workbooks (.xlsx and .xls) with calamine: every sheet becomes a polars frame (the first
//! row is the header) and is profiled like any table. No sheet name is assumed.

use std::path::Path;

use calamine::{open_workbook_auto, Data, Reader, Sheets};
use polars::prelude::*;

use super::tables::{self, unique_names};
use crate::files::TableProfile;

/// Every sheet of the workbook, profiled.
pub fn profile(path: &Path) -> Result<Vec<TableProfile>, String> {
    let mut workbook = open_workbook_auto(path).map_err(|e| format!("not a readable Excel workbook: {e}"))?;
    let names = workbook.sheet_names().to_vec();
    if names.is_empty() {
        return Err("the workbook has no sheets".into());
    }
    names
        .into_iter()
        .map(|name| {
            check_extent(&mut workbook, &name)?;
            let range = workbook.worksheet_range(&name).map_err(|e| format!("sheet '{name}': {e}"))?;
            let frame = frame_of(&range).map_err(|e| format!("sheet '{name}': {e}"))?;
            let warnings = if range.is_empty() { vec!["the sheet is empty".to_string()] } else { vec![] };
            tables::profile_frame(&frame, Some(name), warnings)
        })
        .collect()
}

/// One sheet as a frame (the first sheet when `sheet` is `None`), for conversions.
pub fn read_sheet(path: &Path, sheet: Option<&str>) -> Result<(String, DataFrame), String> {
    let mut workbook = open_workbook_auto(path).map_err(|e| format!("not a readable Excel workbook: {e}"))?;
    let names = workbook.sheet_names().to_vec();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| format!("the workbook has no sheet '{wanted}'; it has: {}", names.join(", ")))?,
        None => names.first().cloned().ok_or("the workbook has no sheets")?,
    };
    check_extent(&mut workbook, &name)?;
    let range = workbook.worksheet_range(&name).map_err(|e| format!("sheet '{name}': {e}"))?;
    let frame = frame_of(&range)?;
    Ok((name, frame))
}

/// The most cells a sheet may span (rows × columns between its first and last used cell). A
/// sheet is read as a dense grid, so a 2 KB workbook whose only cells are A1 and XFD1048576
/// would ask for 17 billion cells (550 GB); its extent is measured from the cells themselves,
/// streaming, before anything is allocated from it.
pub const MAX_SHEET_CELLS: u64 = 20_000_000;

/// Refuses an .xlsx sheet whose used cells span more than [`MAX_SHEET_CELLS`]. (An .xls sheet
/// holds at most 65,536 × 256 cells, which the profiler's memory limit covers.)
fn check_extent<RS: std::io::Read + std::io::Seek>(workbook: &mut Sheets<RS>, name: &str) -> Result<(), String> {
    let Sheets::Xlsx(xlsx) = workbook else { return Ok(()) };
    let mut cells = xlsx.worksheet_cells_reader(name).map_err(|e| format!("sheet '{name}': {e}"))?;
    let (mut first, mut last, mut used) = ((u32::MAX, u32::MAX), (0u32, 0u32), 0u64);
    while let Some(cell) = cells.next_cell().map_err(|e| format!("sheet '{name}': {e}"))? {
        let (r, c) = cell.get_position();
        first = (first.0.min(r), first.1.min(c));
        last = (last.0.max(r), last.1.max(c));
        used += 1;
    }
    if used == 0 {
        return Ok(());
    }
    let (rows, cols) = (u64::from(last.0 - first.0) + 1, u64::from(last.1 - first.1) + 1);
    let span = rows.saturating_mul(cols);
    if span > MAX_SHEET_CELLS {
        return Err(format!(
            "sheet '{name}' spans {rows} rows × {cols} columns ({span} cells, {} to {}) for {used} values; \
             okrflow reads sheets of up to {MAX_SHEET_CELLS} cells. Delete the stray cells far from the data, or save the sheet as CSV",
            cell_name(first),
            cell_name(last)
        ));
    }
    Ok(())
}

/// "A1", "XFD1048576" from a zero-based (row, column).
fn cell_name((row, col): (u32, u32)) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), row + 1)
}

/// The cells under the first row, one typed column per header: numbers when every value is a
/// number (integers when all are whole), booleans when all are booleans, text otherwise.
fn frame_of(range: &calamine::Range<Data>) -> Result<DataFrame, String> {
    let mut rows = range.rows();
    let Some(header) = rows.next() else {
        return Ok(DataFrame::empty());
    };
    let names = unique_names(header.iter().map(cell_text).map(Option::unwrap_or_default));
    let body: Vec<&[Data]> = rows.collect();
    let height = body.len();
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, name)| column_of(name, body.iter().map(|row| row.get(i).unwrap_or(&Data::Empty))))
        .collect::<Vec<Column>>();
    DataFrame::new(height, columns).map_err(|e| e.to_string())
}

fn column_of<'a>(name: &str, cells: impl Iterator<Item = &'a Data> + Clone) -> Column {
    let present = || cells.clone().filter(|c| !matches!(c, Data::Empty));
    let name = PlSmallStr::from(name);
    if present().all(|c| matches!(c, Data::Int(_)) || matches!(c, Data::Float(f) if f.fract() == 0.0 && f.abs() < 9e15))
    {
        let values: Vec<Option<i64>> = cells
            .map(|c| match c {
                Data::Int(i) => Some(*i),
                Data::Float(f) => Some(*f as i64),
                _ => None,
            })
            .collect();
        Column::new(name, values)
    } else if present().all(|c| matches!(c, Data::Int(_) | Data::Float(_))) {
        let values: Vec<Option<f64>> = cells
            .map(|c| match c {
                Data::Int(i) => Some(*i as f64),
                Data::Float(f) => Some(*f),
                _ => None,
            })
            .collect();
        Column::new(name, values)
    } else if present().all(|c| matches!(c, Data::Bool(_))) {
        let values: Vec<Option<bool>> = cells.map(|c| if let Data::Bool(b) = c { Some(*b) } else { None }).collect();
        Column::new(name, values)
    } else {
        let values: Vec<Option<String>> = cells.map(cell_text).collect();
        Column::new(name, values)
    }
}

fn cell_text(cell: &Data) -> Option<String> {
    match cell {
        Data::Empty => None,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(f.to_string()),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(d) => Some(d.to_string()),
        Data::Error(e) => Some(format!("#{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cells_are_named_as_spreadsheets_do() {
        assert_eq!(super::cell_name((0, 0)), "A1");
        assert_eq!(super::cell_name((9, 27)), "AB10");
        assert_eq!(super::cell_name((1_048_575, 16_383)), "XFD1048576");
    }
}
