//! Thumbnails of image attachments (`/Page/a/photo.png?thumbnail=120`), as Otterwiki
//! makes them: the image fitted inside a square of that many pixels, its proportions
//! kept, never enlarged. Each is made once per (attachment blob, size) and kept within
//! a byte budget (`[cache] thumbnails`); a blob never changes, so nothing is ever stale.
//!
//! The image comes from a user, so decoding is bounded: the file's size, the image's
//! dimensions and the decoder's memory all have limits, and an image that breaks one,
//! or does not decode, is refused with a clear error (422), never a panic.

use std::io::Cursor;
use std::sync::Arc;

use git2::Oid;
use image::{ImageFormat, ImageReader, Limits};

use crate::cache::{Budgeted, CacheStats};
use crate::error::{Error, Result};

/// Otterwiki's size for a bare `?thumbnail`.
pub const DEFAULT_SIZE: u32 = 80;
/// The largest square asked for; larger requests get this.
pub const MAX_SIZE: u32 = 1024;
/// Images larger than this (the file) are not decoded.
const MAX_INPUT_BYTES: usize = 20 << 20;
/// Nor are images wider or taller than this, or needing more memory to decode.
const MAX_DIMENSION: u32 = 12_000;
const MAX_DECODE_BYTES: u64 = 256 << 20;

/// A made thumbnail: its bytes and their MIME type.
pub type Thumbnail = Arc<(Vec<u8>, &'static str)>;

pub struct Thumbnails {
    made: Budgeted<(Oid, u32), Thumbnail>,
}

impl Thumbnails {
    pub fn new(budget_bytes: usize) -> Thumbnails {
        Thumbnails {
            made: Budgeted::new("thumbnails", budget_bytes),
        }
    }

    /// The thumbnail of blob `id` at `size`, made from `load`'s bytes on a miss.
    pub fn get(
        &self,
        id: Oid,
        size: u32,
        load: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Thumbnail> {
        let key = (id, size);
        if let Some(hit) = self.made.get(&key) {
            return Ok(hit);
        }
        let made: Thumbnail = Arc::new(make(&load()?, size)?);
        self.made.insert(key, made.clone(), made.0.len() + 64);
        Ok(made)
    }

    pub fn stats(&self) -> CacheStats {
        self.made.stats()
    }
}

/// Whether `file` has thumbnails: raster images do; an SVG (or any other file) is
/// served as it is.
pub fn applies_to(file: &str) -> bool {
    let mime = super::mime_of(file);
    mime.starts_with("image/") && mime != "image/svg+xml"
}

/// `?thumbnail` (80), `?thumbnail=N` (1 to [`MAX_SIZE`]); a value that is not a number
/// is Otterwiki's default.
pub fn size_from_query(value: &str) -> u32 {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map_or(DEFAULT_SIZE, |n| n.min(MAX_SIZE))
}

/// Decodes `bytes`, fits the image inside `size`×`size`, and encodes it again: JPEG
/// stays JPEG (quality 80), everything else becomes PNG.
pub fn make(bytes: &[u8], size: u32) -> Result<(Vec<u8>, &'static str)> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(Error::TooLarge(format!(
            "Images larger than {} MiB have no thumbnail.",
            MAX_INPUT_BYTES >> 20
        )));
    }
    let unreadable =
        |e: image::ImageError| Error::Invalid(format!("This image cannot be read: {e}."));
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Invalid(format!("This image cannot be read: {e}.")))?;
    let format = reader
        .format()
        .ok_or_else(|| Error::Invalid("This file is not an image robot can read.".into()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(unreadable)?;
    let image = if image.width() > size || image.height() > size {
        image.thumbnail(size, size)
    } else {
        image
    };
    let mut out = Cursor::new(Vec::new());
    if format == ImageFormat::Jpeg {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
        image
            .to_rgb8()
            .write_with_encoder(encoder)
            .map_err(unreadable)?;
        Ok((out.into_inner(), "image/jpeg"))
    } else {
        image
            .write_to(&mut out, ImageFormat::Png)
            .map_err(unreadable)?;
        Ok((out.into_inner(), "image/png"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 100, 50]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn dimensions(bytes: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory(bytes).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn fits_the_square_keeps_proportions_and_never_enlarges() {
        let (bytes, mime) = make(&png(400, 200), 80).unwrap();
        assert_eq!((dimensions(&bytes), mime), ((80, 40), "image/png"));
        let (bytes, _) = make(&png(30, 60), 80).unwrap();
        assert_eq!(dimensions(&bytes), (30, 60));
    }

    #[test]
    fn broken_and_oversized_images_are_refused() {
        assert!(matches!(make(b"not an image", 80), Err(Error::Invalid(_))));
        let mut truncated = png(100, 100);
        truncated.truncate(60);
        assert!(matches!(make(&truncated, 80), Err(Error::Invalid(_))));
        // A header claiming 100,000 × 100,000 pixels is refused before decoding.
        let mut huge = png(1, 1);
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(make(&huge, 80).is_err());
    }

    #[test]
    fn sizes_from_the_query() {
        assert_eq!(size_from_query(""), 80);
        assert_eq!(size_from_query("x"), 80);
        assert_eq!(size_from_query("0"), 80);
        assert_eq!(size_from_query("120"), 120);
        assert_eq!(size_from_query("99999"), MAX_SIZE);
    }

    #[test]
    fn made_once_per_blob_and_size() {
        let cache = Thumbnails::new(1 << 20);
        let id = Oid::from_bytes(&[7; 20]).unwrap();
        let loads = std::cell::Cell::new(0);
        let load = || {
            loads.set(loads.get() + 1);
            Ok(png(200, 200))
        };
        cache.get(id, 80, load).unwrap();
        cache.get(id, 80, load).unwrap();
        cache.get(id, 40, load).unwrap();
        assert_eq!(loads.get(), 2);
    }
}
