//! The live window of `--window`: each frame's image shown as soon as it is rendered, through
//! [minifb](https://docs.rs/minifb) (cargo feature `window`, off by default, so that a plain
//! build needs no windowing libraries; minifb's X11 backend loads `libX11` when the window opens,
//! never at link time).
//!
//! minifb's window is not `Send`: it lives in a thread-local of the thread that opens it, the
//! main thread, and only that thread can show frames in it. On the job system the frame graph's
//! `present` pass is pinned to the main thread ([`Presenter`]); rayon and one thread show each
//! frame from their own loop ([`Window::show`]). The window shows frames at most at the
//! simulation's own rate, 60 per second, so that it plays in real time. Closing it or pressing
//! Escape ends the run: [`Window::closed`].
//!
//! Without the feature [`Window::open`] returns an error, and the demo has no `--window` flag.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::render::{Image, TILE};

/// The window of the thread that opened it; dropping it closes the window.
///
/// ```no_run
/// # fn show(world: demo::sim::World) -> Result<(), String> {
/// use demo::render::Image;
/// use demo::window::Window;
/// let image = Image::new(&world);
/// let window = Window::open("fountain", image.width, image.height)?;
/// while !window.closed() {
///     // ... render a frame into `image` ...
///     window.show(&image);
/// }
/// # Ok(()) }
/// ```
pub struct Window {
    closed: Arc<AtomicBool>,
    /// Not `Send`: the window itself is in this thread's thread-local.
    _this_thread: PhantomData<*const ()>,
}

/// Shows frames in the window from a job: `Send`, so that a frame-graph pass can own it, but it
/// shows only when it runs on the thread that opened the window (the pass is pinned to the main
/// thread); elsewhere, or once the window is closed, [`show`](Presenter::show) does nothing.
pub struct Presenter {
    closed: Arc<AtomicBool>,
}

impl Window {
    /// Opens a window of `width` x `height` pixels titled `title` on this thread. Fails with a
    /// message to show the user where no window can be opened (no display, no X11 library), or
    /// when this thread has one open already.
    pub fn open(title: &str, width: usize, height: usize) -> Result<Window, String> {
        screen::open(title, width, height)?;
        Ok(Window {
            closed: Arc::new(AtomicBool::new(false)),
            _this_thread: PhantomData,
        })
    }

    /// Whether the user closed the window or pressed Escape.
    pub fn closed(&self) -> bool {
        // Relaxed: a flag read once a frame, with no data behind it.
        self.closed.load(Ordering::Relaxed)
    }

    /// Shows `image`, waiting if need be so that frames come at most 60 times a second, and
    /// takes in the window's events.
    pub fn show(&self, image: &Image) {
        show(&self.closed, image);
    }

    /// A [`Presenter`] for a pass that runs on this thread.
    pub fn presenter(&self) -> Presenter {
        Presenter {
            closed: Arc::clone(&self.closed),
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        screen::close();
    }
}

impl Presenter {
    /// Shows `image` like [`Window::show`] when called on the window's thread.
    pub fn show(&self, image: &Image) {
        show(&self.closed, image);
    }
}

fn show(closed: &AtomicBool, image: &Image) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if !screen::show(image) {
        closed.store(true, Ordering::Relaxed);
    }
}

/// Writes `image` (tile-major RGBA, see [`Image::index`]) into `rows` row by row as `0RGB`
/// words, the layout minifb shows: red in bits 16..24, green 8..16, blue 0..8.
pub fn to_0rgb(image: &Image, rows: &mut Vec<u32>) {
    // Every word is written below: no need to clear.
    rows.resize(image.width * image.height, 0);
    for (y, row) in rows.chunks_exact_mut(image.width).enumerate() {
        // The row crosses `tiles_x` tiles; in each, its pixels are one run of `TILE`.
        for (tile_x, out) in row.chunks_mut(TILE).enumerate() {
            let from = image.index(tile_x * TILE, y);
            for (out, &abgr) in out.iter_mut().zip(&image.pixels[from..from + TILE]) {
                *out = (abgr & 0xff) << 16 | (abgr & 0xff00) | (abgr >> 16 & 0xff);
            }
        }
    }
}

/// The minifb window in the main thread's thread-local.
#[cfg(feature = "window")]
mod screen {
    use std::cell::RefCell;

    use minifb::{Key, ScaleMode, WindowOptions};

    use crate::render::Image;

    struct Screen {
        window: minifb::Window,
        /// The image row by row, as minifb takes it.
        rows: Vec<u32>,
    }

    thread_local! {
        static SCREEN: RefCell<Option<Screen>> = const { RefCell::new(None) };
    }

    pub(super) fn open(title: &str, width: usize, height: usize) -> Result<(), String> {
        if SCREEN.with_borrow(Option::is_some) {
            return Err("a window is open on this thread already".into());
        }
        let options = WindowOptions {
            resize: true,
            scale_mode: ScaleMode::AspectRatioStretch,
            ..WindowOptions::default()
        };
        let mut window = minifb::Window::new(title, width, height, options).map_err(|error| {
            let display = std::env::var("DISPLAY").unwrap_or_default();
            let hint = if display.is_empty() {
                " (DISPLAY is not set: is there a display?)".to_owned()
            } else {
                format!(" (DISPLAY is {display})")
            };
            format!("cannot open a window: {error}{hint}")
        })?;
        window.set_target_fps((1.0 / crate::run::DT).round() as usize);
        SCREEN.set(Some(Screen {
            window,
            rows: Vec::new(),
        }));
        Ok(())
    }

    /// Shows `image`; false once the window is closed, Escape pressed, or showing failed.
    pub(super) fn show(image: &Image) -> bool {
        SCREEN.with_borrow_mut(|screen| {
            let Some(Screen { window, rows }) = screen else {
                return true;
            };
            super::to_0rgb(image, rows);
            let shown = window.update_with_buffer(rows, image.width, image.height);
            shown.is_ok() && window.is_open() && !window.is_key_down(Key::Escape)
        })
    }

    pub(super) fn close() {
        SCREEN.take();
    }
}

/// Built without the `window` feature: no window can be opened.
#[cfg(not(feature = "window"))]
mod screen {
    use crate::render::Image;

    pub(super) fn open(_title: &str, _width: usize, _height: usize) -> Result<(), String> {
        Err("this demo was built without the `window` cargo feature \
             (cargo run --release --features window -- --window)"
            .into())
    }

    pub(super) fn show(_image: &Image) -> bool {
        false
    }

    pub(super) fn close() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene;
    use crate::sim::World;

    #[test]
    fn rows_are_the_tiles_unfolded_as_0rgb() {
        // 100 x 50: the last tile column and row are partly outside the image.
        let text = r#"
            name = "tiles"
            seed = 1
            max_particles = 10
            view = { min = [0, 0], max = [2, 1] }
            image = { width = 100, height = 50 }
            physics = { gravity = [0, -9.81] }
            [[emitters]]
            position = [1, 0.5]
            rate = 1
            direction = 90
            speed = [1, 1]
            lifetime = [1, 1]
        "#;
        let scene = scene::parse(text, std::path::Path::new("tiles.toml")).expect("valid");
        let mut image = Image::new(&World::new(scene));
        for (i, pixel) in image.pixels.iter_mut().enumerate() {
            *pixel = (i as u32).wrapping_mul(2_654_435_761) | 0xff00_0000;
        }
        let mut rgba = Vec::new();
        image.to_rgba(&mut rgba);
        let mut rows = Vec::new();
        to_0rgb(&image, &mut rows);
        assert_eq!(rows.len(), 100 * 50);
        for (i, (&word, rgba)) in rows.iter().zip(rgba.chunks_exact(4)).enumerate() {
            let [r, g, b, _] = [rgba[0], rgba[1], rgba[2], rgba[3]].map(u32::from);
            assert_eq!(
                word,
                r << 16 | g << 8 | b,
                "pixel {} of row {}",
                i % 100,
                i / 100
            );
        }
    }
}
