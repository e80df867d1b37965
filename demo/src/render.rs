//! Rendering on the CPU: particles splatted into a framebuffer, one job per tile, and PNG
//! snapshots.
//!
//! The framebuffer is stored tile by tile (`TILE` x `TILE` pixels each, contiguous), so that each
//! tile job owns its pixels as one `&mut` slice. A tile finds its particles through the grid:
//! the state is sorted by grid cell, so the particles of the cells under a tile (widened by the
//! largest splat) are a few contiguous runs.

use std::io::Write as _;
use std::path::Path;

use glam::{Vec2, Vec3};

use crate::scene::Collider;
use crate::sim::{Fan, Particles, World};

/// Tile side, pixels.
pub const TILE: usize = 32;

/// A framebuffer of packed RGBA8 pixels, tile-major.
#[derive(Clone, Debug)]
pub struct Image {
    /// Width, pixels.
    pub width: usize,
    /// Height, pixels.
    pub height: usize,
    /// Tiles across.
    pub tiles_x: usize,
    /// Tiles down.
    pub tiles_y: usize,
    /// Pixels, `TILE * TILE` per tile, tiles row by row; `0xAABBGGRR`.
    pub pixels: Vec<u32>,
    /// The scene's ground and colliders, drawn once, in the same layout.
    backdrop: Vec<u32>,
}

fn pack(c: Vec3) -> u32 {
    let byte = |x: f32| (x.clamp(0.0, 1.0) * 255.0 + 0.5) as u32;
    byte(c.x) | byte(c.y) << 8 | byte(c.z) << 16 | 0xff00_0000
}

fn unpack(p: u32) -> Vec3 {
    Vec3::new(
        (p & 0xff) as f32,
        (p >> 8 & 0xff) as f32,
        (p >> 16 & 0xff) as f32,
    ) / 255.0
}

impl Image {
    /// A black image of the scene's size with its backdrop drawn.
    pub fn new(world: &World) -> Image {
        let (width, height) = (
            world.scene.image.width as usize,
            world.scene.image.height as usize,
        );
        let (tiles_x, tiles_y) = (width.div_ceil(TILE), height.div_ceil(TILE));
        let mut image = Image {
            width,
            height,
            tiles_x,
            tiles_y,
            pixels: vec![0; tiles_x * tiles_y * TILE * TILE],
            backdrop: vec![0; tiles_x * tiles_y * TILE * TILE],
        };
        for y in 0..height {
            for x in 0..width {
                let w = image.world_of(world, x as f32 + 0.5, y as f32 + 0.5);
                let inside = w.y < 0.0
                    || world.scene.colliders.iter().any(|c| match *c {
                        Collider::Circle { center, radius } => w.distance(center) < radius,
                        Collider::Box { min, max } => w.cmpgt(min).all() && w.cmplt(max).all(),
                    });
                let colour = if inside {
                    Vec3::new(0.22, 0.2, 0.18)
                } else {
                    Vec3::new(0.02, 0.025, 0.04)
                };
                let at = image.index(x, y);
                image.backdrop[at] = pack(colour);
            }
        }
        image
    }

    /// Index of pixel (x, y) in `pixels`.
    pub fn index(&self, x: usize, y: usize) -> usize {
        let tile = (y / TILE) * self.tiles_x + x / TILE;
        tile * TILE * TILE + (y % TILE) * TILE + x % TILE
    }

    /// The world position at pixel coordinates (y down from the view's top).
    fn world_of(&self, world: &World, x: f32, y: f32) -> Vec2 {
        let view = &world.scene.view;
        let size = view.max - view.min;
        Vec2::new(
            view.min.x + x / self.width as f32 * size.x,
            view.max.y - y / self.height as f32 * size.y,
        )
    }

    /// The image row by row as RGBA bytes.
    pub fn to_rgba(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.width * self.height * 4);
        for y in 0..self.height {
            for x in 0..self.width {
                out.extend_from_slice(&self.pixels[self.index(x, y)].to_le_bytes());
            }
        }
    }
}

/// Draws the particles of `state`: one job per tile.
pub fn render<'c>(
    fan: &mut impl Fan<'c>,
    world: &'c World,
    state: &'c Particles,
    image: &'c mut Image,
) {
    let Image {
        width,
        height,
        tiles_x,
        pixels,
        backdrop,
        ..
    } = image;
    let (width, height, tiles_x) = (*width, *height, *tiles_x);
    let backdrop = &*backdrop;
    for (t, (tile, back)) in pixels
        .chunks_mut(TILE * TILE)
        .zip(backdrop.chunks(TILE * TILE))
        .enumerate()
    {
        let origin = ((t % tiles_x) * TILE, (t / tiles_x) * TILE);
        fan.spawn(move || draw_tile(world, state, (width, height), origin, tile, back));
    }
}

fn draw_tile(
    world: &World,
    state: &Particles,
    (width, height): (usize, usize),
    (x0, y0): (usize, usize),
    tile: &mut [u32],
    backdrop: &[u32],
) {
    let mut light = [Vec3::ZERO; TILE * TILE];
    let view = &world.scene.view;
    let size = view.max - view.min;
    let scale = Vec2::new(width as f32 / size.x, height as f32 / size.y);
    // The tile's world rectangle, widened by a pixel for the bilinear splat.
    let corner = |x: f32, y: f32| Vec2::new(view.min.x + x / scale.x, view.max.y - y / scale.y);
    let low = corner(x0 as f32 - 1.0, (y0 + TILE) as f32 + 1.0);
    let high = corner((x0 + TILE) as f32 + 1.0, y0 as f32 - 1.0);
    let grid = &world.grid;
    let (c0, r0) = grid.coords(low);
    let (c1, r1) = grid.coords(high);
    let colours = &world.colours;
    for row in r0..=r1 {
        let line = (row * grid.cols) as usize;
        let first = state.cell_start[line + c0 as usize] as usize;
        let last = state.cell_start[line + c1 as usize + 1] as usize;
        for i in first..last {
            let p = state.pos[i];
            // Pixel coordinates within the tile, of the splat's top-left sample.
            let fx = (p.x - view.min.x) * scale.x - 0.5 - x0 as f32;
            let fy = (view.max.y - p.y) * scale.y - 0.5 - y0 as f32;
            if !(-1.0..TILE as f32).contains(&fx) || !(-1.0..TILE as f32).contains(&fy) {
                continue;
            }
            let fade = 1.0 - state.age[i] / state.life[i];
            let colour = colours[state.emitter[i] as usize] * fade.max(0.0).sqrt();
            let (ix, iy) = (fx.floor(), fy.floor());
            let (ax, ay) = (fx - ix, fy - iy);
            for (dx, dy, w) in [
                (0, 0, (1.0 - ax) * (1.0 - ay)),
                (1, 0, ax * (1.0 - ay)),
                (0, 1, (1.0 - ax) * ay),
                (1, 1, ax * ay),
            ] {
                let (x, y) = (ix as i32 + dx, iy as i32 + dy);
                if (0..TILE as i32).contains(&x) && (0..TILE as i32).contains(&y) {
                    light[y as usize * TILE + x as usize] += colour * w;
                }
            }
        }
    }
    for ((out, light), back) in tile.iter_mut().zip(&light).zip(backdrop) {
        // Light saturates smoothly instead of clipping (a cheap Reinhard curve).
        let glow = *light / (Vec3::ONE + *light);
        *out = pack(unpack(*back) + glow);
    }
}

/// The image as a PNG file's bytes (`rgba` is scratch for its rows); an error names `path`, the
/// file the bytes are for.
pub fn encode_png(image: &Image, rgba: &mut Vec<u8>, path: &Path) -> Result<Vec<u8>, String> {
    image.to_rgba(rgba);
    let encode = || -> Result<Vec<u8>, png::EncodingError> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, image.width as u32, image.height as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        encoder.write_header()?.write_image_data(rgba)?;
        Ok(bytes)
    };
    encode().map_err(|error| format!("encoding {}: {error}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file, so that a reader never sees half a file
/// and a failed write leaves none; an error names the file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let partial = path.with_extension("png.partial");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(bytes)?;
        drop(file);
        std::fs::rename(&partial, path)
    };
    write().map_err(|error| {
        // Leave no half-written file behind.
        let _ = std::fs::remove_file(&partial);
        format!("writing {}: {error}", path.display())
    })
}
