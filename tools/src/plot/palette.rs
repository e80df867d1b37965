//! Colours for span and pass names: each name keeps its colour within a trace and across the
//! pictures of it.

use std::sync::Arc;

use plotters::style::RGBColor;

/// Twenty colours that tell apart: ten strong ones, then ten lighter ones.
const COLOURS: [(u8, u8, u8); 20] = [
    (0x1f, 0x77, 0xb4),
    (0xff, 0x7f, 0x0e),
    (0x2c, 0xa0, 0x2c),
    (0xd6, 0x27, 0x28),
    (0x94, 0x67, 0xbd),
    (0x8c, 0x56, 0x4b),
    (0xe3, 0x77, 0xc2),
    (0x7f, 0x7f, 0x7f),
    (0xbc, 0xbd, 0x22),
    (0x17, 0xbe, 0xcf),
    (0xae, 0xc7, 0xe8),
    (0xff, 0xbb, 0x78),
    (0x98, 0xdf, 0x8a),
    (0xff, 0x98, 0x96),
    (0xc5, 0xb0, 0xd5),
    (0xc4, 0x9c, 0x94),
    (0xf7, 0xb6, 0xd2),
    (0xc7, 0xc7, 0xc7),
    (0xdb, 0xdb, 0x8d),
    (0x9e, 0xda, 0xe5),
];

/// Names and their colours: the trace's names in sorted order take the colours in turn, so a
/// name has the same colour in every picture of the trace (and in any trace with the same names).
///
/// ```
/// use tools::plot::palette::Palette;
/// let palette = Palette::new(vec!["collide".into(), "integrate".into()]);
/// assert_ne!(palette.colour("collide"), palette.colour("integrate"));
/// assert_eq!(palette.colour("integrate"), palette.colour("integrate"));
/// ```
#[derive(Clone, Debug)]
pub struct Palette {
    names: Vec<Arc<str>>,
}

impl Palette {
    /// The palette for these names (sorted and deduplicated here).
    ///
    /// ```
    /// let palette = tools::plot::palette::Palette::new(vec!["b".into(), "a".into(), "a".into()]);
    /// assert_eq!(palette.names().len(), 2);
    /// ```
    pub fn new(mut names: Vec<Arc<str>>) -> Palette {
        names.sort();
        names.dedup();
        Palette { names }
    }

    /// The names, sorted.
    ///
    /// ```
    /// let palette = tools::plot::palette::Palette::new(vec!["b".into(), "a".into()]);
    /// assert_eq!(&*palette.names()[0], "a");
    /// ```
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// The colour of `name`; a name the palette does not know is dark grey.
    ///
    /// ```
    /// use plotters::style::RGBColor;
    /// let palette = tools::plot::palette::Palette::new(vec![]);
    /// assert_eq!(palette.colour("unknown"), RGBColor(0x40, 0x40, 0x40));
    /// ```
    pub fn colour(&self, name: &str) -> RGBColor {
        match self.names.binary_search_by(|known| (**known).cmp(name)) {
            Ok(index) => {
                let (r, g, b) = COLOURS[index % COLOURS.len()];
                RGBColor(r, g, b)
            }
            Err(_) => RGBColor(0x40, 0x40, 0x40),
        }
    }
}
