//! Reading QR codes back from scans and phone photos.
//!
//! The main reader is rxing's port of the ZXing-C++ QR detector
//! (`qrcode::cpp_port`), tried on a cascade of images and binarisations
//! that stops at the first pass that finds a code, cheapest and likeliest
//! first, so that a clean scan costs one pass and only a hard image pays for
//! the clean-ups:
//!
//! 1. a big photo first shrunk by an integer factor to about 2.4 megapixels
//!    (a phone photo has pixels to spare);
//! 2. the image as it is;
//! 3. averaged 2x2 (noise, JPEG blocks);
//! 4. band-passed: smoothed (noise), unsharp-masked (blur) and
//!    contrast-stretched (faded prints, dim photos, glare);
//! 5. strongly sharpened (heavy blur);
//! 6. smoothed.
//!
//! Each is read with the local "hybrid" binariser and with one global
//! histogram threshold, on the image and on its inversion. Every text
//! returned has passed the QR Reed-Solomon check; turning it into a share
//! adds the payload check and the Feldman commitments (see `payload`).
//! docs/qr.md has the measurements behind these choices.
//!
//! rqrr, the design card's first choice and once the last pass, is not
//! used: on the benchmark it never read a code this cascade missed, and it
//! is not linear in time (a 2.4-megapixel image of random black and white
//! pixels took it 10 s, a 12-megapixel noisy photo 10 minutes).
//!
//! What an image may cost is bounded: the file's size, its pixels (checked
//! in the header, before anything is decoded), the memory a PNG decodes
//! into (8-bit grey, one row at a time), and the pixels every pass works
//! on (a bigger image is shrunk first).

use std::path::Path;

use image::GrayImage;
use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Luma8Source};

use super::enhance;
use crate::error::{Error, Result};

/// Largest image file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest width or height accepted.
pub const MAX_DIMENSION: u32 = 16_384;
/// Largest image accepted, in pixels (a 48-MP phone photo is 8000 x 6000;
/// an A4 page scanned at 600 dpi, 35 MP).
pub const MAX_PIXELS: u64 = 64_000_000;
/// Largest image the passes after the first work on: a bigger one is shrunk
/// to this (its codes have modules to spare: a 12-MP photo becomes 3 MP, a
/// 600-dpi scan of a sheet keeps 11 px a module), bounding each pass's time
/// and memory.
pub const MAX_DECODE_PIXELS: u64 = 8_000_000;
/// Images larger than this many pixels are first tried scaled down; the
/// clean-up passes (4-6) work on at most this many.
const FAST_PASS_PIXELS: u64 = 2_400_000;
const ENHANCE_PIXELS: u64 = FAST_PASS_PIXELS;

/// Every QR text found in an image file (PNG or JPEG), in the order found.
pub fn decode_image_file(path: &Path) -> Result<Vec<String>> {
    let image = load_gray(path)?;
    Ok(decode_gray(&image))
}

/// Reads and decodes an image file into 8-bit grey, bounding size and dimensions.
pub fn load_gray(path: &Path) -> Result<GrayImage> {
    let bytes = crate::input_file::read(path, MAX_FILE_BYTES, "image (PNG or JPEG)")?;
    gray_from_bytes(&bytes).map_err(|problem| Error::input(path, problem))
}

/// Decodes PNG or JPEG bytes into grey. The picture's size is checked in its
/// header before any pixel is decoded, and decoding allocates the grey image
/// and little else.
pub fn gray_from_bytes(bytes: &[u8]) -> std::result::Result<GrayImage, String> {
    let format = image::guess_format(bytes)
        .map_err(|_| "not an image this tool reads (PNG or JPEG expected)".to_string())?;
    match format {
        image::ImageFormat::Png => png_to_gray(bytes),
        image::ImageFormat::Jpeg => {
            if let Some(gray) = jpeg_to_gray(bytes)? {
                return Ok(gray);
            }
            general_to_gray(bytes, format)
        }
        other => Err(format!(
            "{other:?} images are not supported; use PNG or JPEG"
        )),
    }
}

/// The image crate's decoder, bounded: used for the JPEGs zune-jpeg declines
/// (so that the error message is the image crate's).
fn general_to_gray(
    bytes: &[u8],
    format: image::ImageFormat,
) -> std::result::Result<GrayImage, String> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits());
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("cannot decode the {format:?} image: {e}"))?;
    check_size(w, h)?;
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits());
    let img = reader
        .decode()
        .map_err(|e| format!("cannot decode the {format:?} image: {e}"))?;
    Ok(img.into_luma8())
}

/// The picture at up to 4 bytes a pixel, and no more.
fn limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    limits
}

/// Width and height from a header, refused when the picture is larger than we read.
fn check_size(width: u32, height: u32) -> std::result::Result<(), String> {
    if width == 0 || height == 0 {
        return Err("the image is empty (0 pixels wide or high)".into());
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(format!(
            "image is {width} x {height} pixels, more than {MAX_DIMENSION} a side; scan or photograph at a lower resolution"
        ));
    }
    let pixels = width as u64 * height as u64;
    if pixels > MAX_PIXELS {
        return Err(too_big(pixels));
    }
    Ok(())
}

/// PNG straight to 8-bit grey, one row at a time: memory is the grey image
/// plus a row, whatever the PNG's colour type and depth (16-bit RGBA would
/// otherwise take 8 bytes a pixel before conversion).
fn png_to_gray(bytes: &[u8]) -> std::result::Result<GrayImage, String> {
    let fail = |e: png::DecodingError| format!("cannot decode the Png image: {e}");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // palette and low bit depths to 8 bits a sample, 16 bits to 8
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(fail)?;
    let (w, h) = (reader.info().width, reader.info().height);
    check_size(w, h)?;
    let (color, depth) = reader.output_color_type();
    if depth != png::BitDepth::Eight {
        return Err(format!(
            "cannot decode the Png image: unexpected {depth:?}-bit output"
        ));
    }
    let channels = color.samples();
    let mut gray = vec![0u8; w as usize * h as usize];
    if reader.info().interlaced {
        // Adam7 rows arrive pass by pass: decode the whole frame, bounded to
        // what a grey image of the largest size takes
        let size = reader
            .output_buffer_size()
            .filter(|&n| n as u64 <= MAX_PIXELS)
            .ok_or_else(|| {
                "interlaced PNG too large to decode; save it without interlacing".to_string()
            })?;
        let mut frame = vec![0u8; size];
        let info = reader.next_frame(&mut frame).map_err(fail)?;
        for (row, out) in frame
            .chunks_exact(info.line_size)
            .zip(gray.chunks_exact_mut(w as usize))
        {
            row_to_gray(row, channels, out);
        }
    } else {
        for out in gray.chunks_exact_mut(w as usize) {
            let row = reader
                .next_row()
                .map_err(fail)?
                .ok_or_else(|| "the PNG image is truncated".to_string())?;
            row_to_gray(row.data(), channels, out);
        }
    }
    Ok(GrayImage::from_raw(w, h, gray).expect("sized to fit"))
}

/// One row of 8-bit samples (grey, grey+alpha, RGB or RGBA) to luma, as the
/// image crate computes it (Rec. 709 weights); alpha is ignored.
fn row_to_gray(row: &[u8], channels: usize, out: &mut [u8]) {
    match channels {
        1 => out.copy_from_slice(&row[..out.len()]),
        2 => out
            .iter_mut()
            .zip(row.chunks_exact(2))
            .for_each(|(o, p)| *o = p[0]),
        _ => out
            .iter_mut()
            .zip(row.chunks_exact(channels))
            .for_each(|(o, p)| {
                let l = 2126 * p[0] as u32 + 7152 * p[1] as u32 + 722 * p[2] as u32;
                *o = ((l + 5000) / 10000) as u8;
            }),
    }
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
        check_size(info.width as u32, info.height as u32)?;
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

/// True when the image has no contrast a code could be read from (a blank
/// page, a white or black frame): fewer than 4 grey levels apart.
fn is_flat(image: &GrayImage) -> bool {
    let (min, max) = image
        .as_raw()
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    max - min < 4
}

/// The integer shrink factor that brings `pixels` down to `target` or fewer.
fn factor_for(pixels: u64, target: u64) -> u32 {
    ((pixels as f64 / target as f64).sqrt().ceil() as u32).max(1)
}

/// Every QR text found in a grey image.
pub fn decode_gray(image: &GrayImage) -> Vec<String> {
    let pixels = |i: &GrayImage| i.width() as u64 * i.height() as u64;
    if image.width() < 21 || image.height() < 21 || is_flat(image) {
        return Vec::new(); // smaller than the smallest code, or nothing drawn
    }
    // 1. big photos: first a copy shrunk by an integer factor (block average)
    let factor = factor_for(pixels(image), FAST_PASS_PIXELS);
    if factor > 1 {
        let found = rxing_passes(&enhance::shrink(image, factor));
        if !found.is_empty() {
            return found;
        }
    }
    // every later pass works on at most MAX_DECODE_PIXELS
    let bounded;
    let image = match factor_for(pixels(image), MAX_DECODE_PIXELS) {
        1 => image,
        k => {
            bounded = enhance::shrink(image, k);
            &bounded
        }
    };
    // 2. the image as it is
    let found = rxing_passes(image);
    if !found.is_empty() {
        return found;
    }
    // 3. noise and JPEG blocks: averaged 2x2 (when modules stay big enough)
    if image.width().min(image.height()) >= 160 {
        let found = rxing_passes(&enhance::shrink(image, 2));
        if !found.is_empty() {
            return found;
        }
    }
    // 4-6 work on at most ENHANCE_PIXELS
    let small;
    let base = match factor_for(pixels(image), ENHANCE_PIXELS) {
        1 => image,
        k => {
            small = enhance::shrink(image, k);
            &small
        }
    };
    // 4. band-pass: noise smoothed away, blur sharpened back, contrast
    //    stretched (faded prints, dim photos, a glossy page's glare)
    let sharpened = enhance::sharpen(&enhance::smooth(base, 1.0), 2.0, 2.0);
    if let Some(band) = enhance::stretch(&sharpened, 0.005, 0.995) {
        let found = rxing_passes(&band);
        if !found.is_empty() {
            return found;
        }
    }
    drop(sharpened);
    // 5. heavy blur: a strong unsharp mask
    let found = rxing_passes(&enhance::sharpen(base, 2.0, 4.0));
    if !found.is_empty() {
        return found;
    }
    // 6. smoothed
    let found = rxing_passes(&enhance::smooth(base, 1.2));
    if !found.is_empty() {
        return found;
    }
    Vec::new()
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat};

    fn png_of(img: &DynamicImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn sample() -> GrayImage {
        GrayImage::from_fn(37, 23, |x, y| image::Luma([((x * 7 + y * 11) % 256) as u8]))
    }

    #[test]
    fn png_rows_go_to_grey_as_the_image_crate_does() {
        let rgb = DynamicImage::ImageRgb8(image::RgbImage::from_fn(37, 23, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 11) as u8, ((x + y) * 5) as u8])
        }));
        let cases = [
            DynamicImage::ImageLuma8(sample()),
            DynamicImage::ImageLumaA8(DynamicImage::ImageLuma8(sample()).to_luma_alpha8()),
            rgb.clone(),
            DynamicImage::ImageRgba8(rgb.to_rgba8()),
            DynamicImage::ImageRgba16(rgb.to_rgba16()),
            DynamicImage::ImageLuma16(DynamicImage::ImageLuma8(sample()).to_luma16()),
        ];
        for img in cases {
            let want = img.to_luma8();
            let got = gray_from_bytes(&png_of(&img)).unwrap();
            assert_eq!((got.width(), got.height()), (37, 23), "{:?}", img.color());
            let worst = got
                .as_raw()
                .iter()
                .zip(want.as_raw())
                .map(|(&a, &b)| (a as i32 - b as i32).abs())
                .max()
                .unwrap();
            assert!(worst <= 1, "{:?}: off by {worst}", img.color());
        }
    }

    #[test]
    fn interlaced_png_decodes_like_the_plain_one() {
        // testdata/qr/shard-2-of-3.interlaced.png: the vector code as RGB with
        // Adam7 interlacing (written by a short zlib script; no encoder here writes Adam7)
        let plain = load_gray(Path::new("testdata/qr/shard-2-of-3.png")).unwrap();
        let interlaced = std::fs::read("testdata/qr/shard-2-of-3.interlaced.png").unwrap();
        assert_eq!(interlaced[8 + 8 + 12], 1, "the fixture is interlaced");
        assert_eq!(gray_from_bytes(&interlaced).unwrap(), plain);
    }

    #[test]
    fn damaged_pngs_are_refused() {
        let bytes = png_of(&DynamicImage::ImageLuma8(sample()));
        let truncated = &bytes[..bytes.len() / 2];
        assert!(gray_from_bytes(truncated).is_err());
        let mut zero = bytes.clone();
        let ihdr = zero.windows(4).position(|w| w == b"IHDR").unwrap();
        zero[ihdr + 4..ihdr + 8].copy_from_slice(&[0, 0, 0, 0]);
        assert!(gray_from_bytes(&zero).is_err());
    }

    #[test]
    fn flat_and_tiny_images_hold_no_code() {
        assert!(decode_gray(&GrayImage::from_pixel(300, 300, image::Luma([255]))).is_empty());
        assert!(decode_gray(&GrayImage::from_pixel(300, 300, image::Luma([0]))).is_empty());
        assert!(decode_gray(&GrayImage::from_pixel(20, 400, image::Luma([9]))).is_empty());
        assert!(is_flat(&GrayImage::from_fn(30, 30, |x, _| image::Luma([
            100 + (x % 4) as u8
        ]))));
        assert!(!is_flat(&GrayImage::from_fn(30, 30, |x, _| image::Luma([
            100 + (x % 5) as u8
        ]))));
    }

    #[test]
    fn an_image_over_the_decoding_bound_is_read_shrunk() {
        // a code at 2 px a module in a picture of 16.4 megapixels: too small
        // for the first pass (shrunk by 3), read once the picture is shrunk
        // to MAX_DECODE_PIXELS (by 2)
        let code = std::fs::read_to_string("testdata/qr/shard-2-of-3.payload.txt").unwrap();
        let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::H)
            .unwrap();
        let small = super::super::render_gray(&qr, 2);
        assert!(rxing_passes(&enhance::shrink(&small, 3)).is_empty());
        let mut big = GrayImage::from_pixel(4100, 4000, image::Luma([255]));
        image::imageops::replace(&mut big, &small, 1000, 500);
        assert!(big.width() as u64 * big.height() as u64 > MAX_DECODE_PIXELS);
        assert_eq!(decode_gray(&big), vec![code]);
    }
}
