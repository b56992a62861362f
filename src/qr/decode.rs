//! Reading QR codes back from scans and phone photos.
//!
//! The main reader is rxing's port of the ZXing-C++ QR detector
//! (`qrcode::cpp_port`), tried on a cascade of binarisations (local
//! "hybrid" thresholds, then one global histogram threshold), each on the
//! image and on its inversion: first on a copy of a big photo shrunk to
//! about 2 megapixels (fast, and a phone photo has pixels to spare), then
//! at full size, then averaged and smoothed copies (noise, JPEG blocks);
//! rqrr is the last resort. The cascade stops at the first pass that finds
//! a code. Every text returned has passed the QR Reed-Solomon check;
//! turning it into a share adds the payload check and the Feldman commitments
//! (see `payload`). docs/qr.md has the measurements behind these choices.

use std::io::Read;
use std::path::Path;

use image::GrayImage;
use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Luma8Source};

use crate::error::{Error, Result};

/// Largest image file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest width or height accepted.
pub const MAX_DIMENSION: u32 = 16_384;
/// Largest image accepted, in pixels (a 48-MP phone photo is 8000 x 6000).
pub const MAX_PIXELS: u64 = 64_000_000;
/// Images larger than this many pixels are first tried scaled down.
const FAST_PASS_PIXELS: u64 = 2_400_000;

/// Every QR text found in an image file (PNG or JPEG), in the order found.
pub fn decode_image_file(path: &Path) -> Result<Vec<String>> {
    let image = load_gray(path)?;
    Ok(decode_gray(&image))
}

/// Reads and decodes an image file into 8-bit grey, bounding size and dimensions.
pub fn load_gray(path: &Path) -> Result<GrayImage> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open image", e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "cannot read image", e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::input(
            path,
            format!(
                "image is larger than {} MiB; scan at a lower resolution",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    gray_from_bytes(&bytes).map_err(|problem| Error::input(path, problem))
}

/// Decodes PNG or JPEG bytes into grey.
pub fn gray_from_bytes(bytes: &[u8]) -> std::result::Result<GrayImage, String> {
    let format = image::guess_format(bytes)
        .map_err(|_| "not an image this tool reads (PNG or JPEG expected)".to_string())?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(format!(
            "{format:?} images are not supported; use PNG or JPEG"
        ));
    }
    if format == image::ImageFormat::Jpeg {
        if let Some(gray) = jpeg_to_gray(bytes)? {
            return Ok(gray);
        }
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    // the decoded picture at up to 4 bytes a pixel, and no more
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("cannot decode the {format:?} image: {e}"))?;
    Ok(img.into_luma8())
}

/// Decodes a JPEG straight to its luma plane, skipping colour conversion.
/// Ok(None) when this decoder cannot (the general path then reports the
/// problem); an error when the picture is larger than we read.
fn jpeg_to_gray(bytes: &[u8]) -> std::result::Result<Option<GrayImage>, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(MAX_DIMENSION as usize)
        .set_max_height(MAX_DIMENSION as usize);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    if decoder.decode_headers().is_err() {
        return Ok(None);
    }
    if let Some(info) = decoder.info() {
        let pixels = info.width as u64 * info.height as u64;
        if pixels > MAX_PIXELS {
            return Err(too_big(pixels));
        }
    }
    let Ok(pixels) = decoder.decode() else {
        return Ok(None);
    };
    Ok(decoder
        .info()
        .and_then(|info| GrayImage::from_raw(info.width as u32, info.height as u32, pixels)))
}

fn too_big(pixels: u64) -> String {
    format!(
        "image has {} megapixels, more than the {} this tool reads; scan or photograph at a lower resolution",
        pixels / 1_000_000,
        MAX_PIXELS / 1_000_000
    )
}

/// Every QR text found in a grey image.
pub fn decode_gray(image: &GrayImage) -> Vec<String> {
    let pixels = image.width() as u64 * image.height() as u64;
    // 1. big photos: first a copy shrunk by an integer factor (block average)
    let factor = ((pixels as f64 / FAST_PASS_PIXELS as f64).sqrt().ceil() as u32).max(1);
    if factor > 1 {
        let found = rxing_passes(&shrink(image, factor));
        if !found.is_empty() {
            return found;
        }
    }
    // 2. the image as it is
    let found = rxing_passes(image);
    if !found.is_empty() {
        return found;
    }
    // 3. noise and JPEG blocks: averaged 2x2 (when modules stay big enough),
    //    then smoothed at full size
    if image.width().min(image.height()) >= 160 {
        let found = rxing_passes(&shrink(image, 2));
        if !found.is_empty() {
            return found;
        }
    }
    let found = rxing_passes(&image::imageops::blur(image, 1.2));
    if !found.is_empty() {
        return found;
    }
    // 4. a different detector altogether
    rqrr_pass(image)
}

/// Averages `k` x `k` blocks: fast, and it averages noise away.
fn shrink(image: &GrayImage, k: u32) -> GrayImage {
    let (w, h) = (image.width() / k, image.height() / k);
    let src = image.as_raw();
    let sw = image.width() as usize;
    let mut out = vec![0u8; (w * h) as usize];
    let area = k * k;
    for y in 0..h as usize {
        let mut sums = vec![0u32; w as usize];
        for dy in 0..k as usize {
            let row = &src[(y * k as usize + dy) * sw..][..(w * k) as usize];
            for (x, sum) in sums.iter_mut().enumerate() {
                *sum += row[x * k as usize..][..k as usize]
                    .iter()
                    .map(|&v| v as u32)
                    .sum::<u32>();
            }
        }
        for (x, sum) in sums.into_iter().enumerate() {
            out[y * w as usize + x] = ((sum + area / 2) / area) as u8;
        }
    }
    GrayImage::from_raw(w, h, out).expect("sized to fit")
}

fn hints() -> DecodeHints {
    DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some([BarcodeFormat::QR_CODE].into_iter().collect()),
        ..Default::default()
    }
}

fn rxing_passes(image: &GrayImage) -> Vec<String> {
    let (w, h) = (image.width(), image.height());
    let hints = hints();
    for global in [false, true] {
        for invert in [false, true] {
            let source = match Luma8Source::new(image.as_raw().clone(), w, h) {
                Ok(s) => s,
                Err(_) => return Vec::new(),
            };
            let found = if global {
                read_all(
                    BinaryBitmap::new(GlobalHistogramBinarizer::new(source)),
                    invert,
                    &hints,
                )
            } else {
                read_all(
                    BinaryBitmap::new(HybridBinarizer::new(source)),
                    invert,
                    &hints,
                )
            };
            if !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}

fn read_all<B: Binarizer>(
    mut bitmap: BinaryBitmap<B>,
    invert: bool,
    hints: &DecodeHints,
) -> Vec<String> {
    use rxing::multi::MultipleBarcodeReader;
    if invert {
        bitmap.invert();
    }
    let mut reader = QrReader;
    match reader.decode_multiple_with_hints(&mut bitmap, hints) {
        Ok(results) => {
            let mut texts: Vec<String> = Vec::new();
            for r in results {
                if *r.getBarcodeFormat() == BarcodeFormat::QR_CODE {
                    let t = r.getText().to_string();
                    if !texts.contains(&t) {
                        texts.push(t);
                    }
                }
            }
            texts
        }
        Err(_) => Vec::new(),
    }
}

/// rqrr alone on the image as it is: the design card's first choice, kept
/// for the benchmark's comparison (docs/qr.md).
pub fn decode_gray_rqrr_only(image: &GrayImage) -> Vec<String> {
    rqrr_pass(image)
}

fn rqrr_pass(image: &GrayImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        image.width() as usize,
        image.height() as usize,
        |x, y| image.get_pixel(x as u32, y as u32).0[0],
    );
    let mut texts = Vec::new();
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }
    texts
}
