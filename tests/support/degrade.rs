//! A deterministic generator of degraded QR shard images: what a printed
//! sheet looks like years later as a flatbed scan or a phone photo.
//!
//! Each sample renders one or two codes onto "paper" through a chain of
//! geometric and photometric damage. The geometry works backwards: for every
//! output pixel (supersampled) a homography (rotation, perspective, scale)
//! and an optional bend (curved paper) give the point on the paper, which is
//! ink, paper or background. Light, contrast, blur, noise, inversion and
//! JPEG follow. The same (kind, tier, index) always gives the same bytes.

use image::{GrayImage, Luma};
use qrcode::{Color, EcLevel, QrCode};

use super::TestRng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Downscale,
    Blur,
    Jpeg,
    Rotation,
    Perspective,
    Lighting,
    Noise,
    LowContrast,
    Occlusion,
    Inverted,
    SmallInFrame,
    Curved,
    TwoCodes,
    HeavyBlur,
    Faint,
    FaintBlurred,
    GlossyDim,
}

pub const KINDS: [Kind; 17] = [
    Kind::Downscale,
    Kind::Blur,
    Kind::Jpeg,
    Kind::Rotation,
    Kind::Perspective,
    Kind::Lighting,
    Kind::Noise,
    Kind::LowContrast,
    Kind::Occlusion,
    Kind::Inverted,
    Kind::SmallInFrame,
    Kind::Curved,
    Kind::TwoCodes,
    Kind::HeavyBlur,
    Kind::Faint,
    Kind::FaintBlurred,
    Kind::GlossyDim,
];

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Downscale => "downscale 2-4 px/module",
            Kind::Blur => "blur",
            Kind::Jpeg => "JPEG q15-40",
            Kind::Rotation => "rotation (any angle)",
            Kind::Perspective => "perspective",
            Kind::Lighting => "uneven light, shadow",
            Kind::Noise => "noise",
            Kind::LowContrast => "low contrast",
            Kind::Occlusion => "occlusion (pen, fold)",
            Kind::Inverted => "inverted",
            Kind::SmallInFrame => "code at 20-40% of frame",
            Kind::Curved => "curved paper",
            Kind::TwoCodes => "two codes in one image",
            Kind::HeavyBlur => "heavy blur",
            Kind::Faint => "very low contrast",
            Kind::FaintBlurred => "low contrast and blur",
            Kind::GlossyDim => "dim glossy photo, highlight",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Easy,
    Medium,
    Hard,
}

pub const TIERS: [Tier; 3] = [Tier::Easy, Tier::Medium, Tier::Hard];

impl Tier {
    pub fn name(&self) -> &'static str {
        match self {
            Tier::Easy => "easy",
            Tier::Medium => "medium",
            Tier::Hard => "hard",
        }
    }
    fn pick(&self, easy: f64, medium: f64, hard: f64) -> f64 {
        match self {
            Tier::Easy => easy,
            Tier::Medium => medium,
            Tier::Hard => hard,
        }
    }
}

pub struct Sample {
    pub name: String,
    pub kind: Kind,
    pub tier: Tier,
    /// Encoded image file (PNG or JPEG).
    pub bytes: Vec<u8>,
    pub ext: &'static str,
    /// The texts of the codes in the image.
    pub expected: Vec<String>,
}

/// Module grid of a text at level H, quiet zone included; true = dark.
pub struct Modules {
    pub side: usize,
    dark: Vec<bool>,
}

impl Modules {
    pub fn of_text(text: &str) -> Self {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::H).unwrap();
        let w = code.width();
        let q = 4;
        let side = w + 2 * q;
        let colors = code.to_colors();
        let mut dark = vec![false; side * side];
        for y in 0..w {
            for x in 0..w {
                dark[(y + q) * side + x + q] = colors[y * w + x] == Color::Dark;
            }
        }
        Modules { side, dark }
    }
    fn at(&self, u: f64, v: f64) -> bool {
        if u < 0.0 || v < 0.0 {
            return false;
        }
        let (x, y) = (u as usize, v as usize);
        x < self.side && y < self.side && self.dark[y * self.side + x]
    }
}

/// A 3x3 projective map.
#[derive(Clone, Copy)]
struct Homography([f64; 9]);

impl Homography {
    /// The map taking the unit square's corners (0,0),(1,0),(1,1),(0,1) to `dst`.
    fn square_to_quad(dst: [(f64, f64); 4]) -> Self {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = dst;
        let dx1 = x1 - x2;
        let dx2 = x3 - x2;
        let dy1 = y1 - y2;
        let dy2 = y3 - y2;
        let sx = x0 - x1 + x2 - x3;
        let sy = y0 - y1 + y2 - y3;
        let den = dx1 * dy2 - dx2 * dy1;
        let g = (sx * dy2 - dx2 * sy) / den;
        let h = (dx1 * sy - sx * dy1) / den;
        Homography([
            x1 - x0 + g * x1,
            x3 - x0 + h * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + h * y3,
            y0,
            g,
            h,
            1.0,
        ])
    }
    fn inverse(&self) -> Self {
        let m = self.0;
        let a = m[4] * m[8] - m[5] * m[7];
        let b = m[5] * m[6] - m[3] * m[8];
        let c = m[3] * m[7] - m[4] * m[6];
        let det = m[0] * a + m[1] * b + m[2] * c;
        Homography([
            a / det,
            (m[2] * m[7] - m[1] * m[8]) / det,
            (m[1] * m[5] - m[2] * m[4]) / det,
            b / det,
            (m[0] * m[8] - m[2] * m[6]) / det,
            (m[2] * m[3] - m[0] * m[5]) / det,
            c / det,
            (m[1] * m[6] - m[0] * m[7]) / det,
            (m[0] * m[4] - m[1] * m[3]) / det,
        ])
    }
    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = self.0;
        let w = m[6] * x + m[7] * y + m[8];
        (
            (m[0] * x + m[1] * y + m[2]) / w,
            (m[3] * x + m[4] * y + m[5]) / w,
        )
    }
}

/// One code placed in the picture.
struct Placement {
    modules: Modules,
    /// Output pixel -> unit square of the code (quiet zone included).
    to_code: Homography,
    /// Bend: vertical bow as a fraction of the code's side (curved paper).
    bow: f64,
    /// Pen strokes in code units (x0, y0, x1, y1, width).
    strokes: Vec<(f64, f64, f64, f64, f64)>,
}

/// Paper beyond the quiet zone, in code-side fractions.
const PAPER_MARGIN: f64 = 0.25;

impl Placement {
    /// 0 = ink, 1 = paper, None = not on this paper. With `code_only`,
    /// None also outside the code's square (quiet zone included), so that one
    /// sheet's paper margin never covers another sheet's code.
    fn sample(&self, x: f64, y: f64, code_only: bool) -> Option<f64> {
        let (mut u, mut v) = self.to_code.apply(x, y);
        if self.bow != 0.0 {
            let c = 2.0 * u - 1.0;
            v -= self.bow * (1.0 - c * c);
            // foreshortening towards the bent edges
            u = 0.5 + 0.5 * (c * (1.0 + 0.5 * self.bow * c * c)).clamp(-1.5, 1.5);
        }
        let margin = if code_only { 0.0 } else { PAPER_MARGIN };
        if !(-margin..=1.0 + margin).contains(&u) || !(-margin..=1.0 + margin).contains(&v) {
            return None;
        }
        for &(x0, y0, x1, y1, w) in &self.strokes {
            if dist_to_segment(u, v, x0, y0, x1, y1) < w / 2.0 {
                return Some(0.0);
            }
        }
        let s = self.modules.side as f64;
        Some(if self.modules.at(u * s, v * s) {
            0.0
        } else {
            1.0
        })
    }
}

fn dist_to_segment(px: f64, py: f64, x0: f64, y0: f64, x1: f64, y1: f64) -> f64 {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (x0 + t * dx, y0 + t * dy);
    ((px - cx).powi(2) + (py - cy).powi(2)).sqrt()
}

/// Corners of a code of `side_px` centred at (cx, cy), turned by `angle`
/// radians, each corner pushed by up to `skew` of the side (perspective).
fn quad(
    rng: &mut TestRng,
    cx: f64,
    cy: f64,
    side_px: f64,
    angle: f64,
    skew: f64,
) -> [(f64, f64); 4] {
    let (s, c) = angle.sin_cos();
    let h = side_px / 2.0;
    let mut out = [(0.0, 0.0); 4];
    // perspective as a phone sees it: one edge farther away (shorter) than the opposite one
    let far = rng.range(0.0, 4.0) as usize;
    for (i, (dx, dy)) in [(-h, -h), (h, -h), (h, h), (-h, h)].into_iter().enumerate() {
        let shrink = if i == far || i == (far + 1) % 4 {
            1.0 - skew
        } else {
            1.0
        };
        let (dx, dy) = (dx * shrink, dy);
        let jx = rng.range(-skew, skew) * side_px * 0.3;
        let jy = rng.range(-skew, skew) * side_px * 0.3;
        out[i] = (cx + c * dx - s * dy + jx, cy + s * dx + c * dy + jy);
    }
    out
}

struct Scene {
    width: u32,
    height: u32,
    placements: Vec<Placement>,
    ink: f64,
    paper: f64,
    background: f64,
    supersample: u32,
}

impl Scene {
    fn render(&self) -> GrayImage {
        let k = self.supersample;
        let step = 1.0 / k as f64;
        GrayImage::from_fn(self.width, self.height, |x, y| {
            let mut acc = 0.0;
            for sy in 0..k {
                for sx in 0..k {
                    let px = x as f64 + (sx as f64 + 0.5) * step;
                    let py = y as f64 + (sy as f64 + 0.5) * step;
                    let mut value =
                        self.background + 12.0 * ((px * 0.013).sin() * (py * 0.017).cos());
                    let hit = self
                        .placements
                        .iter()
                        .find_map(|p| p.sample(px, py, true))
                        .or_else(|| self.placements.iter().find_map(|p| p.sample(px, py, false)));
                    if let Some(s) = hit {
                        value = self.ink + (self.paper - self.ink) * s;
                    }
                    acc += value;
                }
            }
            Luma([(acc / (k * k) as f64).round().clamp(0.0, 255.0) as u8])
        })
    }
}

/// The damage one sample gets.
struct Recipe {
    width: u32,
    height: u32,
    codes: usize,
    px_per_module: f64,
    angle_max: f64,
    skew: f64,
    bow: f64,
    strokes: usize,
    stroke_width: f64,
    ink: f64,
    paper: f64,
    light_floor: f64,
    shadow: f64,
    blur_modules: f64,
    noise: f64,
    invert: bool,
    jpeg: Option<u8>,
    frame_fraction: Option<f64>,
    /// Specular highlight of a glossy page: peak brightness added (of 255)
    /// and radius as a fraction of the code's side.
    highlight: Option<(f64, f64)>,
}

impl Recipe {
    /// Ink and paper `half` grey levels either side of a middle drawn from [lo, hi).
    fn contrast(&mut self, rng: &mut TestRng, lo: f64, hi: f64, half: f64) {
        let mid = rng.range(lo, hi);
        self.ink = mid - half;
        self.paper = mid + half;
    }
}

fn recipe(kind: Kind, tier: Tier, rng: &mut TestRng) -> Recipe {
    // Every tier carries a little of everything a camera adds.
    let mut r = Recipe {
        width: 0,
        height: 0,
        codes: 1,
        px_per_module: tier.pick(7.0, 5.0, 4.0) * rng.range(0.9, 1.15),
        angle_max: tier.pick(2.0, 4.0, 6.0).to_radians(),
        skew: tier.pick(0.0, 0.02, 0.04),
        bow: 0.0,
        strokes: 0,
        stroke_width: 0.0,
        ink: tier.pick(20.0, 35.0, 45.0),
        paper: tier.pick(235.0, 215.0, 200.0),
        light_floor: 1.0,
        shadow: 1.0,
        blur_modules: tier.pick(0.05, 0.12, 0.18),
        noise: tier.pick(2.0, 4.0, 6.0),
        invert: false,
        jpeg: None,
        frame_fraction: None,
        highlight: None,
    };
    match kind {
        Kind::Downscale => {
            r.px_per_module = tier.pick(4.0, 3.0, 2.0) * rng.range(1.0, 1.25);
            r.angle_max = 0.0;
            r.skew = 0.0;
        }
        Kind::Blur => r.blur_modules = tier.pick(0.2, 0.3, 0.4) * rng.range(0.9, 1.1),
        Kind::Jpeg => {
            r.jpeg = Some(tier.pick(40.0, 25.0, 15.0) as u8);
            r.px_per_module = tier.pick(5.0, 4.0, 3.2) * rng.range(1.0, 1.2);
        }
        Kind::Rotation => r.angle_max = std::f64::consts::PI,
        Kind::Perspective => {
            r.skew = tier.pick(0.12, 0.22, 0.32);
            r.angle_max = tier.pick(10.0, 25.0, 45.0).to_radians();
        }
        Kind::Lighting => {
            r.light_floor = tier.pick(0.55, 0.35, 0.2);
            r.shadow = tier.pick(0.7, 0.5, 0.35);
        }
        Kind::Noise => r.noise = tier.pick(12.0, 22.0, 32.0),
        Kind::LowContrast => r.contrast(rng, 110.0, 160.0, tier.pick(50.0, 28.0, 16.0)),
        Kind::Occlusion => {
            r.strokes = tier.pick(1.0, 2.0, 2.0) as usize;
            r.stroke_width = tier.pick(0.012, 0.025, 0.04);
        }
        Kind::Inverted => r.invert = true,
        Kind::SmallInFrame => {
            r.frame_fraction = Some(tier.pick(0.4, 0.3, 0.2) * rng.range(1.0, 1.15));
            r.skew = tier.pick(0.05, 0.1, 0.15);
            r.angle_max = tier.pick(10.0, 20.0, 30.0).to_radians();
            r.jpeg = Some(tier.pick(85.0, 70.0, 55.0) as u8);
        }
        Kind::Curved => r.bow = tier.pick(0.015, 0.03, 0.045) * rng.range(0.9, 1.1),
        Kind::TwoCodes => {
            r.codes = 2;
            r.angle_max = tier.pick(5.0, 15.0, 30.0).to_radians();
        }
        // The four rows below are calibrated against the peers (docs/qr.md):
        // the hard tier's own damage already costs them most codes, so its
        // parameter is eased to where ZXing-C++ still reads some.
        Kind::HeavyBlur => r.blur_modules = tier.pick(0.5, 0.5, 0.45) * rng.range(0.9, 1.1),
        // a faded print or a washed-out scan: ink and paper a few levels apart
        Kind::Faint => r.contrast(rng, 100.0, 170.0, tier.pick(10.0, 9.0, 9.5)),
        Kind::FaintBlurred => {
            r.contrast(rng, 100.0, 170.0, tier.pick(20.0, 16.0, 20.0));
            r.blur_modules = tier.pick(0.3, 0.38, 0.32) * rng.range(0.9, 1.1);
        }
        Kind::GlossyDim => {
            // a dim room: dark paper, sensor noise, the camera's JPEG, and
            // the lamp's reflection on the glossy page washing out a patch
            let paper = rng.range(70.0, 95.0);
            r.paper = paper;
            r.ink = paper * tier.pick(0.4, 0.45, 0.47);
            r.noise = tier.pick(6.0, 8.0, 9.0);
            r.blur_modules = tier.pick(0.15, 0.22, 0.26);
            r.jpeg = Some(tier.pick(75.0, 65.0, 55.0) as u8);
            r.highlight = Some((
                tier.pick(140.0, 170.0, 190.0) * rng.range(0.9, 1.1),
                tier.pick(0.15, 0.18, 0.2) * rng.range(0.9, 1.1),
            ));
        }
    }
    r
}

/// One sample of a kind and tier; `index` picks the shard and the randomness.
pub fn sample(kind: Kind, tier: Tier, index: usize, texts: &[String]) -> Sample {
    let mut rng = TestRng::new(&format!("{kind:?}/{tier:?}/{index}"));
    let r = recipe(kind, tier, &mut rng);
    let expected: Vec<String> = (0..r.codes)
        .map(|c| texts[(index * 2 + c) % texts.len()].clone())
        .collect();
    let modules: Vec<Modules> = expected.iter().map(|t| Modules::of_text(t)).collect();
    let side_modules = modules[0].side as f64;
    let side_px = side_modules * r.px_per_module;
    let (width, height, side_px) = match r.frame_fraction {
        // a 12-MP-like photo scaled to keep the corpus quick: the code takes
        // `f` of the frame's width at the recipe's pixel density
        Some(f) => {
            let w = (side_px / f).round();
            (w as u32, (w * 0.75) as u32, side_px)
        }
        None if r.codes == 2 => ((side_px * 2.8) as u32, (side_px * 1.5) as u32, side_px),
        None => ((side_px * 1.6) as u32, (side_px * 1.6) as u32, side_px),
    };
    let mut placements = Vec::new();
    for (c, m) in modules.into_iter().enumerate() {
        let cx = if r.codes == 2 {
            width as f64 * (0.27 + 0.46 * c as f64)
        } else {
            width as f64 / 2.0 + rng.range(-0.05, 0.05) * width as f64
        };
        let cy = height as f64 / 2.0 + rng.range(-0.05, 0.05) * height as f64;
        let angle = rng.range(-r.angle_max, r.angle_max);
        let q = quad(&mut rng, cx, cy, side_px, angle, r.skew);
        let to_code = Homography::square_to_quad(q).inverse();
        let mut strokes = Vec::new();
        for _ in 0..r.strokes {
            // a pen stroke or fold right across the code, avoiding nothing
            let y0 = rng.range(0.15, 0.85);
            let y1 = rng.range(0.15, 0.85);
            strokes.push((-0.1, y0, 1.1, y1, r.stroke_width * rng.range(0.8, 1.2)));
        }
        placements.push(Placement {
            modules: m,
            to_code,
            bow: r.bow,
            strokes,
        });
    }
    let scene = Scene {
        width,
        height,
        placements,
        ink: r.ink,
        paper: r.paper,
        background: rng.range(60.0, 110.0),
        supersample: if (width as u64 * height as u64) > 4_000_000 {
            2
        } else {
            3
        },
    };
    let mut img = scene.render();
    post_process(&mut img, &r, side_px / side_modules, &mut rng);
    let (bytes, ext) = encode(&img, r.jpeg);
    Sample {
        name: format!(
            "{}-{}-{index:02}",
            format!("{kind:?}").to_lowercase(),
            tier.name()
        ),
        kind,
        tier,
        bytes,
        ext,
        expected,
    }
}

fn post_process(img: &mut GrayImage, r: &Recipe, module_px: f64, rng: &mut TestRng) {
    let (w, h) = (img.width() as f64, img.height() as f64);
    if let Some((peak, radius)) = r.highlight {
        // somewhere over the code (which fills the middle 60% of the frame),
        // an elongated soft blob that adds the same light to ink and paper
        let code_side = w.min(h) / 1.6;
        let (cx, cy) = (
            w / 2.0 + rng.range(-0.3, 0.3) * code_side,
            h / 2.0 + rng.range(-0.3, 0.3) * code_side,
        );
        let (rx, ry) = (radius * code_side * 1.4, radius * code_side * 0.8);
        let a = rng.range(0.0, std::f64::consts::PI);
        let (sa, ca) = a.sin_cos();
        for (x, y, p) in img.enumerate_pixels_mut() {
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let (u, v) = ((dx * ca + dy * sa) / rx, (-dx * sa + dy * ca) / ry);
            let add = peak * (-(u * u + v * v)).exp();
            p.0[0] = (p.0[0] as f64 + add).round().clamp(0.0, 255.0) as u8;
        }
    }
    if r.light_floor < 1.0 || r.shadow < 1.0 {
        // light falls off from one side; a hard shadow edge crosses the frame
        let angle = rng.range(0.0, std::f64::consts::TAU);
        let (dx, dy) = (angle.cos(), angle.sin());
        let (sx, sy, sa) = (
            rng.range(0.3, 0.7) * w,
            rng.range(0.3, 0.7) * h,
            rng.range(0.0, std::f64::consts::TAU),
        );
        for (x, y, p) in img.enumerate_pixels_mut() {
            let (fx, fy) = (x as f64 / w - 0.5, y as f64 / h - 0.5);
            let t = ((fx * dx + fy * dy) + 0.71) / 1.42;
            let mut f = r.light_floor + (1.0 - r.light_floor) * t.clamp(0.0, 1.0);
            if (x as f64 - sx) * sa.cos() + (y as f64 - sy) * sa.sin() > 0.0 {
                f *= r.shadow;
            }
            p.0[0] = (p.0[0] as f64 * f).round().clamp(0.0, 255.0) as u8;
        }
    }
    let sigma = r.blur_modules * module_px;
    if sigma > 0.3 {
        *img = image::imageops::blur(img, sigma as f32);
    }
    if r.noise > 0.0 {
        for p in img.pixels_mut() {
            // sum of uniforms: close enough to Gaussian, and deterministic
            let g: f64 = (0..4).map(|_| rng.next_f64() - 0.5).sum::<f64>() * (3.0f64).sqrt();
            p.0[0] = (p.0[0] as f64 + g * r.noise).round().clamp(0.0, 255.0) as u8;
        }
    }
    if r.invert {
        for p in img.pixels_mut() {
            p.0[0] = 255 - p.0[0];
        }
    }
}

pub fn encode(img: &GrayImage, jpeg: Option<u8>) -> (Vec<u8>, &'static str) {
    let mut out = std::io::Cursor::new(Vec::new());
    match jpeg {
        Some(q) => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q);
            img.write_with_encoder(enc).unwrap();
            (out.into_inner(), "jpg")
        }
        None => {
            img.write_to(&mut out, image::ImageFormat::Png).unwrap();
            (out.into_inner(), "png")
        }
    }
}

/// A 12-megapixel (4000 x 3000) phone-photo-like JPEG with one code at about
/// 30% of the width, slightly turned and skewed.
pub fn photo_12mp(index: usize, text: &str) -> Sample {
    let mut rng = TestRng::new(&format!("photo12mp/{index}"));
    let modules = Modules::of_text(text);
    let (width, height) = (4000u32, 3000u32);
    let side_px = width as f64 * rng.range(0.25, 0.35);
    let cx = width as f64 * rng.range(0.4, 0.6);
    let cy = height as f64 * rng.range(0.4, 0.6);
    let angle = rng.range(-0.3, 0.3);
    let q = quad(&mut rng, cx, cy, side_px, angle, 0.08);
    let scene = Scene {
        width,
        height,
        placements: vec![Placement {
            modules,
            to_code: Homography::square_to_quad(q).inverse(),
            bow: 0.0,
            strokes: vec![],
        }],
        ink: 35.0,
        paper: 215.0,
        background: 90.0,
        supersample: 1,
    };
    let mut img = scene.render();
    let r = Recipe {
        width,
        height,
        codes: 1,
        px_per_module: 0.0,
        angle_max: 0.0,
        skew: 0.0,
        bow: 0.0,
        strokes: 0,
        stroke_width: 0.0,
        ink: 0.0,
        paper: 0.0,
        light_floor: 0.6,
        shadow: 1.0,
        blur_modules: 0.0,
        noise: 5.0,
        invert: false,
        jpeg: Some(85),
        frame_fraction: None,
        highlight: None,
    };
    post_process(&mut img, &r, 1.0, &mut rng);
    let (bytes, ext) = encode(&img, r.jpeg);
    Sample {
        name: format!("photo12mp-{index:02}"),
        kind: Kind::SmallInFrame,
        tier: Tier::Medium,
        bytes,
        ext,
        expected: vec![text.to_string()],
    }
}
