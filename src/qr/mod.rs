//! Printed QR shards: the compact payload, rendering (PNG, SVG, a printable
//! HTML sheet with a typed fallback), and reading codes back from scans and
//! photos. See docs/qr.md.

pub mod decode;
pub mod enhance;
pub mod payload;
pub mod sheet;
pub mod typed;

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma};
use qrcode::{Color, EcLevel, QrCode};

use crate::atomic_file::OutputBatch;
use crate::error::{Error, ReadBack, Result, ScanBack};
use crate::shamir::SplitParams;
use crate::shard::ShardFile;

pub use decode::decode_image_file;
pub use typed::{read_typed_share, read_typed_share_from};

/// Quiet zone around the code, in modules (the standard asks for 4).
pub const QUIET_ZONE: u32 = 4;
/// Pixels per module in the PNG: 10 px gives a 650 px image for t = 2.
pub const PNG_MODULE_PX: u32 = 10;

/// Largest threshold printed as a QR sheet: t = 16 needs QR version 26
/// (121 modules), printed at 0.93 mm a module; larger codes get hard to
/// print and photograph, and their typed fallback longer than a page.
pub const MAX_QR_THRESHOLD: u8 = 16;

/// Refuses QR outputs for a split whose threshold is above [`MAX_QR_THRESHOLD`].
pub fn check_threshold(params: SplitParams) -> Result<()> {
    if params.threshold() > MAX_QR_THRESHOLD {
        return Err(Error::Usage(format!(
            "--qr: QR sheets hold shares of thresholds up to {MAX_QR_THRESHOLD}, and this split needs {}; \
             give the shares as shard files or seal them to tokens instead",
            params.threshold()
        )));
    }
    Ok(())
}

/// The QR code of a shard: payload text in alphanumeric mode, level H, the
/// smallest version it fits.
pub fn qr_code(shard: &ShardFile) -> Result<QrCode> {
    let text = payload::encode(shard);
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::H).map_err(|e| {
        Error::Check(format!(
            "cannot build the QR code for share {}: {e}",
            shard.share.id()
        ))
    })
}

/// The QR version number (1..=40) a shard's code uses.
pub fn version_of(code: &QrCode) -> i16 {
    match code.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    }
}

/// The code as a grey image, black on white, with the quiet zone.
pub fn render_gray(code: &QrCode, module_px: u32) -> GrayImage {
    let w = code.width() as u32;
    let side = (w + 2 * QUIET_ZONE) * module_px;
    let colors = code.to_colors();
    GrayImage::from_fn(side, side, |x, y| {
        let mx = (x / module_px) as i64 - QUIET_ZONE as i64;
        let my = (y / module_px) as i64 - QUIET_ZONE as i64;
        let dark = mx >= 0
            && my >= 0
            && (mx as u32) < w
            && (my as u32) < w
            && colors[my as usize * w as usize + mx as usize] == Color::Dark;
        Luma([if dark { 0 } else { 255 }])
    })
}

/// PNG bytes of the code.
pub fn render_png(code: &QrCode) -> Vec<u8> {
    let img = render_gray(code, PNG_MODULE_PX);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encoding to memory cannot fail");
    out.into_inner()
}

/// An SVG of the code: one square per dark module, in module units, with the
/// quiet zone drawn white. Scales to any print size without blur.
pub fn render_svg(code: &QrCode) -> String {
    let w = code.width();
    let side = w as u32 + 2 * QUIET_ZONE;
    let colors = code.to_colors();
    let mut path = String::new();
    for y in 0..w {
        for x in 0..w {
            if colors[y * w + x] == Color::Dark {
                use std::fmt::Write;
                let _ = write!(
                    path,
                    "M{},{}h1v1h-1z",
                    x as u32 + QUIET_ZONE,
                    y as u32 + QUIET_ZONE
                );
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         width=\"100%\" height=\"100%\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>\n"
    )
}

/// Rebuilds the module picture from an SVG written by [`render_svg`], so the
/// SVG is scanned back like the PNG. Returns None for anything else.
fn raster_own_svg(svg: &str, module_px: u32) -> Option<GrayImage> {
    let side: u32 = svg
        .split("viewBox=\"0 0 ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let d = svg.split(" d=\"").nth(1)?.split('"').next()?;
    let mut img = GrayImage::from_pixel(side * module_px, side * module_px, Luma([255]));
    for cell in d.split('M').skip(1) {
        let (xy, rest) = cell.split_once('h')?;
        if rest != "1v1h-1z" {
            return None;
        }
        let (x, y) = xy.split_once(',')?;
        let (x, y): (u32, u32) = (x.parse().ok()?, y.parse().ok()?);
        if x >= side || y >= side {
            return None;
        }
        for py in y * module_px..(y + 1) * module_px {
            for px in x * module_px..(x + 1) * module_px {
                img.put_pixel(px, py, Luma([0]));
            }
        }
    }
    Some(img)
}

/// All keyceremony shards in an image. Other QR codes are ignored; a
/// keyceremony code that does not check out is an error naming the file.
pub fn shards_from_image(path: &Path) -> Result<Vec<ShardFile>> {
    let texts = decode_image_file(path)?;
    shards_from_texts(path, &texts)
}

/// Every keyceremony shard in an image already read (PNG or JPEG bytes);
/// `path` names it in messages.
pub fn shards_from_image_bytes(path: &Path, bytes: &[u8]) -> Result<Vec<ShardFile>> {
    let image = decode::gray_from_bytes(bytes).map_err(|problem| Error::input(path, problem))?;
    let texts = decode::decode_gray(&image);
    shards_from_texts(path, &texts)
}

fn shards_from_texts(path: &Path, texts: &[String]) -> Result<Vec<ShardFile>> {
    let mut shards = Vec::new();
    let mut others = 0;
    for text in texts {
        match payload::decode(text) {
            Ok(s) => shards.push(s),
            Err(payload::PayloadError::NotOurs) => others += 1,
            Err(source) => {
                return Err(Error::QrPayload {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    if shards.is_empty() {
        let problem = if texts.is_empty() {
            "no QR code could be read in this image; rescan it flat, well lit, the code filling a third of the frame or more, or type the fallback lines (assemble --type)".to_string()
        } else {
            format!("found {others} QR code(s), none of them a keyceremony shard")
        };
        return Err(Error::input(path, problem));
    }
    Ok(shards)
}

/// True when two shards carry the same share of the same ceremony (the
/// fields a QR payload holds; label and custodian are not compared).
pub fn same_share(a: &ShardFile, b: &ShardFile) -> bool {
    a.info.ceremony_id == b.info.ceremony_id
        && a.info.params == b.info.params
        && a.info.commitments == b.info.commitments
        && a.info.fingerprint == b.info.fingerprint
        && a.share == b.share
}

/// Paths of the QR outputs for share `i` in `dir`.
pub fn output_paths(dir: &Path, id: u8) -> [PathBuf; 3] {
    [
        dir.join(format!("shard-{id}.png")),
        dir.join(format!("shard-{id}.svg")),
        dir.join(format!("shard-{id}.html")),
    ]
}

/// What [`write_qr_outputs`] staged for one share.
pub struct QrOutputs {
    /// The QR version (1..=40) of the share's code.
    pub version: i16,
    /// PNG, SVG and sheet paths with the SHA-256 of their bytes, in that order.
    pub files: Vec<(PathBuf, [u8; 32])>,
}

/// Stages `shard-<i>.png`, `.svg` and `.html` for one shard into `batch`,
/// after scanning the PNG and the SVG back and comparing them with the share.
pub fn write_qr_outputs(
    shard: &ShardFile,
    dir: &Path,
    batch: &mut OutputBatch,
) -> Result<QrOutputs> {
    write_qr_outputs_with(shard, dir, batch, &sheet::SheetOptions::default())
}

/// [`write_qr_outputs`], the sheet showing the extra facts of `options`
/// (the ceremony's public key).
pub fn write_qr_outputs_with(
    shard: &ShardFile,
    dir: &Path,
    batch: &mut OutputBatch,
    options: &sheet::SheetOptions,
) -> Result<QrOutputs> {
    check_threshold(shard.info.params)?;
    let code = qr_code(shard)?;
    let png = render_png(&code);
    let svg = render_svg(&code);
    let html = sheet::render_sheet_with(shard, &code, options)?;
    let [png_path, svg_path, html_path] = output_paths(dir, shard.share.id().get());

    scan_back(shard, &png_path, gray_of_png(&png))?;
    scan_back(shard, &svg_path, raster_own_svg(&svg, 6))?;

    batch.add(&png_path, &png)?;
    batch.add(&svg_path, svg.as_bytes())?;
    batch.add(&html_path, html.as_bytes())?;
    Ok(QrOutputs {
        version: version_of(&code),
        files: vec![
            (png_path, sha256(&png)),
            (svg_path, sha256(svg.as_bytes())),
            (html_path, sha256(html.as_bytes())),
        ],
    })
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn gray_of_png(png: &[u8]) -> Option<GrayImage> {
    decode::gray_from_bytes(png).ok()
}

fn scan_back(shard: &ShardFile, path: &Path, image: Option<GrayImage>) -> Result<()> {
    let fail = |why| Error::ReadBack {
        path: path.to_path_buf(),
        problem: ReadBack::ScanBack(why),
    };
    let image = image.ok_or_else(|| fail(ScanBack::ImageUnreadable))?;
    let texts = decode::decode_gray(&image);
    let shards = shards_from_texts(path, &texts).map_err(|_| fail(ScanBack::NoCode))?;
    match shards.as_slice() {
        [one] if same_share(one, shard) => Ok(()),
        _ => Err(fail(ScanBack::Differs)),
    }
}
