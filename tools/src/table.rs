//! Aligned text tables for the report.

use std::fmt;

/// A table of text cells: a header row, then rows. A column of figures (every cell below the
/// header a number, a percentage or `-`) is right-aligned, any other left-aligned.
///
/// ```
/// let mut table = tools::table::Table::new(["pass", "max ms"]);
/// table.row(["integrate", "1.250"]);
/// table.row(["count", "10.000"]);
/// assert_eq!(table.to_string(), "  pass       max ms\n  integrate   1.250\n  count      10.000\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    ///
    /// ```
    /// assert_eq!(tools::table::Table::new(["a", "b"]).to_string(), "  a  b\n");
    /// ```
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            rows: vec![headers.into_iter().map(Into::into).collect()],
        }
    }

    /// Adds a row.
    ///
    /// ```
    /// let mut table = tools::table::Table::new(["a"]);
    /// table.row(["1"]);
    /// assert_eq!(table.to_string().lines().count(), 2);
    /// ```
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let cells = self.rows.iter().filter_map(|row| row.get(c));
                cells.map(|cell| cell.chars().count()).max().unwrap_or(0)
            })
            .collect();
        let figures: Vec<bool> = (0..columns)
            .map(|c| {
                let mut cells = self.rows.iter().skip(1).filter_map(|row| row.get(c));
                cells.all(|cell| is_figure(cell))
            })
            .collect();
        for row in &self.rows {
            let mut line = String::from(" ");
            for (c, width) in widths.iter().enumerate() {
                let cell = row.get(c).map_or("", String::as_str);
                line.push_str(if c == 0 { " " } else { "  " });
                if figures[c] {
                    line.push_str(&format!("{cell:>width$}"));
                } else {
                    line.push_str(&format!("{cell:<width$}"));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Whether a cell holds a figure: a number (maybe signed, maybe followed by `%` or `pp`), a range
/// of two (`53-54`), or `-` for none.
fn is_figure(cell: &str) -> bool {
    let number = |text: &str| {
        text.trim_end_matches(['%', ' ', 'p'])
            .parse::<f64>()
            .is_ok()
    };
    cell == "-"
        || number(cell)
        || cell
            .split_once('-')
            .is_some_and(|(a, b)| number(a) && number(b))
}
