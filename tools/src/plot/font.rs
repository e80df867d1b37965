//! The one font the pictures use, embedded so they need no fonts on the machine: DejaVu Sans
//! (`assets/fonts/`, with its licence there).

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

/// The font family name the pictures draw text with.
///
/// ```
/// assert_eq!(tools::plot::font::FAMILY, "sans-serif");
/// ```
pub const FAMILY: &str = "sans-serif";

/// DejaVu Sans, as the TrueType file.
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as [`FAMILY`] with plotters (once; later calls only report the
/// first call's outcome). Drawing text before this fails.
///
/// ```
/// assert!(tools::plot::font::register().is_ok());
/// ```
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font is not a valid font".to_owned())
        })
        .clone()
}

/// The width and height in pixels of `text` at `size` in the pictures' font (0 when it cannot
/// be measured).
///
/// ```
/// tools::plot::font::register().unwrap();
/// let (wide, _) = tools::plot::font::text_size("integrate", 14.0);
/// let (narrow, _) = tools::plot::font::text_size("io", 14.0);
/// assert!(wide > narrow && narrow > 0);
/// ```
pub fn text_size(text: &str, size: f64) -> (u32, u32) {
    use plotters::style::IntoFont;
    (FAMILY, size).into_font().box_size(text).unwrap_or((0, 0))
}
