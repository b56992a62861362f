//! Image clean-ups tried before binarising a hard photo or scan: smoothing,
//! sharpening (unsharp mask), contrast stretching and block-average
//! shrinking. Each works on 8-bit grey in time linear in the pixels
//! (box filters by running sums, whatever the radius) and allocates only
//! its output and one row or column of scratch.

use image::GrayImage;

/// Averages `k` x `k` blocks: fast, and it averages noise away.
pub fn shrink(image: &GrayImage, k: u32) -> GrayImage {
    let k = k.max(1);
    let (w, h) = (image.width() / k, image.height() / k);
    let src = image.as_raw();
    let sw = image.width() as usize;
    let mut out = vec![0u8; w as usize * h as usize];
    let area = k * k;
    let mut sums = vec![0u32; w as usize];
    for y in 0..h as usize {
        sums.iter_mut().for_each(|s| *s = 0);
        for dy in 0..k as usize {
            let row = &src[(y * k as usize + dy) * sw..][..(w * k) as usize];
            for (x, sum) in sums.iter_mut().enumerate() {
                *sum += row[x * k as usize..][..k as usize]
                    .iter()
                    .map(|&v| v as u32)
                    .sum::<u32>();
            }
        }
        for (x, sum) in sums.iter().enumerate() {
            out[y * w as usize + x] = ((sum + area / 2) / area) as u8;
        }
    }
    GrayImage::from_raw(w, h, out).expect("sized to fit")
}

/// Division by `2r + 1` as a multiplication (exact for the sums that occur here).
struct Divisor(u64);

impl Divisor {
    fn new(d: u32) -> Self {
        Divisor((1u64 << 32).div_ceil(d as u64))
    }
    fn div(&self, n: u32) -> u16 {
        ((n as u64 * self.0) >> 32) as u16
    }
}

/// A box filter of radius `r` along each row, edges repeated.
fn box_rows(src: &[u16], dst: &mut [u16], w: usize, r: usize, padded: &mut Vec<u16>) {
    let d = Divisor::new(2 * r as u32 + 1);
    let half = r as u32; // (2r + 1) / 2, to round
    for (row, out) in src.chunks_exact(w).zip(dst.chunks_exact_mut(w)) {
        padded.clear();
        padded.extend(std::iter::repeat_n(row[0], r));
        padded.extend_from_slice(row);
        padded.extend(std::iter::repeat_n(row[w - 1], r + 1));
        let mut sum: u32 = padded[..2 * r + 1].iter().map(|&v| v as u32).sum();
        for (i, o) in out.iter_mut().enumerate() {
            *o = d.div(sum + half);
            sum += padded[i + 2 * r + 1] as u32;
            sum -= padded[i] as u32;
        }
    }
}

/// A box filter of radius `r` down each column, edges repeated: running sums
/// of whole rows, so memory is read in order.
fn box_columns(src: &[u16], dst: &mut [u16], w: usize, h: usize, r: usize, sums: &mut Vec<u32>) {
    let d = Divisor::new(2 * r as u32 + 1);
    let half = r as u32; // (2r + 1) / 2, to round
    let row = |y: isize| &src[y.clamp(0, h as isize - 1) as usize * w..][..w];
    sums.clear();
    sums.resize(w, 0);
    for y in -(r as isize)..=r as isize {
        for (s, &v) in sums.iter_mut().zip(row(y)) {
            *s += v as u32;
        }
    }
    for y in 0..h {
        for (o, &s) in dst[y * w..][..w].iter_mut().zip(sums.iter()) {
            *o = d.div(s + half);
        }
        let (add, sub) = (
            row(y as isize + r as isize + 1),
            row(y as isize - r as isize),
        );
        for ((s, &a), &b) in sums.iter_mut().zip(add).zip(sub) {
            *s = *s + a as u32 - b as u32;
        }
    }
}

/// An approximate Gaussian blur of standard deviation `sigma` pixels (three
/// box passes each way), on values scaled by 16 for precision.
fn gaussian16(image: &GrayImage, sigma: f32) -> Vec<u16> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut a: Vec<u16> = image.as_raw().iter().map(|&v| (v as u16) << 4).collect();
    // three boxes of radius r have variance 3 * ((2r+1)^2 - 1) / 12
    let r = (((4.0 * sigma * sigma + 1.0).sqrt() - 1.0) / 2.0)
        .round()
        .max(0.0) as usize;
    if r == 0 || w == 0 || h == 0 {
        return a;
    }
    let mut b = vec![0u16; a.len()];
    let mut padded = Vec::with_capacity(w + 2 * r + 1);
    for _ in 0..3 {
        box_rows(&a, &mut b, w, r, &mut padded);
        std::mem::swap(&mut a, &mut b);
    }
    let mut sums = Vec::with_capacity(w);
    for _ in 0..3 {
        box_columns(&a, &mut b, w, h, r, &mut sums);
        std::mem::swap(&mut a, &mut b);
    }
    a
}

/// An approximate Gaussian blur.
pub fn smooth(image: &GrayImage, sigma: f32) -> GrayImage {
    let g = gaussian16(image, sigma);
    let out = g.iter().map(|&v| ((v + 8) >> 4).min(255) as u8).collect();
    GrayImage::from_raw(image.width(), image.height(), out).expect("same size")
}

/// Unsharp mask: the image plus `amount` times its difference from a blur
/// of `sigma` pixels. Restores the edges of a blurred print (and amplifies
/// noise, so it comes after the plain passes).
pub fn sharpen(image: &GrayImage, sigma: f32, amount: f32) -> GrayImage {
    let g = gaussian16(image, sigma);
    let k = (amount * 256.0) as i32;
    let out = image
        .as_raw()
        .iter()
        .zip(&g)
        .map(|(&v, &b)| {
            let v16 = (v as i32) << 4;
            let s = v16 + (((v16 - b as i32) * k) >> 8);
            ((s + 8) >> 4).clamp(0, 255) as u8
        })
        .collect();
    GrayImage::from_raw(image.width(), image.height(), out).expect("same size")
}

/// Stretches the grey levels between the `low` and `high` fractions of the
/// histogram (e.g. 0.005 and 0.995) to the full range: a faded print or a
/// washed-out scan regains the contrast the binarisers expect. None when the
/// image is flat (nothing to stretch).
pub fn stretch(image: &GrayImage, low: f64, high: f64) -> Option<GrayImage> {
    let mut hist = [0u64; 256];
    for &v in image.as_raw() {
        hist[v as usize] += 1;
    }
    let total = image.as_raw().len() as f64;
    let level = |fraction: f64| {
        // the level below which `fraction` of the pixels lie (the last for 1.0)
        let target = ((fraction * total) as u64).min(total as u64 - 1);
        let mut acc = 0;
        for (v, &n) in hist.iter().enumerate() {
            acc += n;
            if acc > target {
                return v;
            }
        }
        255
    };
    let (lo, hi) = (level(low), level(high));
    if hi <= lo + 2 {
        return None;
    }
    let mut lut = [0u8; 256];
    for (v, out) in lut.iter_mut().enumerate() {
        let t = (v as f64 - lo as f64) / (hi - lo) as f64;
        *out = (t * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    let out = image.as_raw().iter().map(|&v| lut[v as usize]).collect();
    Some(GrayImage::from_raw(image.width(), image.height(), out).expect("same size"))
}

/// Doubles the size (bilinear): a code of under 3 pixels a module gets room
/// for the detector's run-length checks.
pub fn enlarge(image: &GrayImage) -> GrayImage {
    let (w, h) = (image.width(), image.height());
    let src = image.as_raw();
    let at = |x: u32, y: u32| src[(y.min(h - 1) * w + x.min(w - 1)) as usize] as u32;
    GrayImage::from_fn(w * 2, h * 2, |x, y| {
        // output pixel centres fall at quarter positions between input pixels
        let (fx, fy) = (x.saturating_sub(1) / 2, y.saturating_sub(1) / 2);
        let (wx, wy) = (
            if x == 0 { 0 } else { 1 + 2 * ((x - 1) % 2) },
            if y == 0 { 0 } else { 1 + 2 * ((y - 1) % 2) },
        );
        let top = at(fx, fy) * (4 - wx) + at(fx + 1, fy) * wx;
        let bottom = at(fx, fy + 1) * (4 - wx) + at(fx + 1, fy + 1) * wx;
        image::Luma([((top * (4 - wy) + bottom * wy + 8) / 16) as u8])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn ramp() -> GrayImage {
        GrayImage::from_fn(64, 48, |x, y| Luma([(x * 3 + y) as u8]))
    }

    #[test]
    fn smoothing_keeps_a_flat_image_flat() {
        let flat = GrayImage::from_pixel(40, 30, Luma([77]));
        assert!(smooth(&flat, 3.0).pixels().all(|p| p.0[0] == 77));
        assert!(sharpen(&flat, 2.0, 2.0).pixels().all(|p| p.0[0] == 77));
        assert!(stretch(&flat, 0.01, 0.99).is_none());
    }

    #[test]
    fn smoothing_averages_and_sharpening_steepens_an_edge() {
        let edge = GrayImage::from_fn(40, 10, |x, _| Luma([if x < 20 { 50 } else { 200 }]));
        let s = smooth(&edge, 2.0);
        let (a, b) = (s.get_pixel(18, 5).0[0], s.get_pixel(21, 5).0[0]);
        assert!(a > 50 && a < 125 && b > 125 && b < 200, "{a} {b}");
        let sh = sharpen(&edge, 2.0, 1.0);
        assert!(sh.get_pixel(18, 5).0[0] < 50 && sh.get_pixel(21, 5).0[0] > 200);
        assert_eq!(sh.get_pixel(2, 5).0[0], 50);
    }

    #[test]
    fn stretch_spans_the_range() {
        let faint = GrayImage::from_fn(100, 10, |x, _| Luma([120 + (x % 10) as u8]));
        let s = stretch(&faint, 0.0, 1.0).unwrap();
        let (min, max) = s
            .pixels()
            .fold((255, 0), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
        assert_eq!((min, max), (0, 255));
    }

    #[test]
    fn shrink_and_enlarge_keep_the_levels() {
        let img = ramp();
        let small = shrink(&img, 2);
        assert_eq!((small.width(), small.height()), (32, 24));
        assert_eq!(small.get_pixel(0, 0).0[0], 2); // (0+3+1+4)/4 rounded
        let big = enlarge(&img);
        assert_eq!((big.width(), big.height()), (128, 96));
        assert_eq!(big.get_pixel(0, 0).0[0], img.get_pixel(0, 0).0[0]);
        // halfway between pixels 10 and 11 of a ramp of 3 a pixel
        let mid = big.get_pixel(21, 0).0[0] as i32;
        assert!((mid - (30 + 1)).abs() <= 1, "{mid}");
    }
}
