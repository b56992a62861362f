//! No share value left in freed memory: this test binary's allocator looks
//! into every block as it is freed (or moved by a reallocation) and counts
//! the blocks that still hold the share's value, as hex, as bytes or as the scalar in memory.
//!
//! Covers parsing a shard file (good, and failing after the value was read)
//! and the Shamir arithmetic over parsed shares (issue 10, point 7).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use keyceremony::shamir;
use keyceremony::shard::ShardFile;
use p256::elliptic_curve::PrimeField;
use p256::Scalar;

struct Scanning;

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
/// The needles: the value's 64 hex characters, its 32 bytes, and the
/// scalar as it lies in memory (Montgomery form limbs, as the arithmetic
/// and vsss-rs hold it).
static mut HEX: [u8; 64] = [0; 64];
static mut RAW: [u8; 32] = [0; 32];
static mut SCALAR: [u8; 32] = [0; 32];

fn holds(hay: &[u8], needle: &[u8]) -> bool {
    // A window of 16 bytes is enough to say the value is there.
    let n = &needle[..16];
    hay.len() >= n.len() && hay.windows(n.len()).any(|w| w == n)
}

unsafe fn look(ptr: *mut u8, size: usize) {
    if ARMED.load(Ordering::SeqCst) {
        let block = std::slice::from_raw_parts(ptr, size);
        let (hex, raw) = (&*std::ptr::addr_of!(HEX), &*std::ptr::addr_of!(RAW));
        let scalar = &*std::ptr::addr_of!(SCALAR);
        if holds(block, hex) || holds(block, raw) || holds(block, scalar) {
            HITS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        look(ptr, layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Moved by hand so the old block is looked at before it is freed.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = System.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            look(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Scanning = Scanning;

/// One test at a time: the needle and the count are global.
static SERIAL: Mutex<()> = Mutex::new(());

fn known_shard(id: u8) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("testdata/known-key/shard-{id}.json")),
    )
    .unwrap()
}

/// Runs `f` with the value of `shard` as the needle; returns the number of
/// freed blocks that held it.
fn freed_blocks_holding_value(shard: &[u8], f: impl FnOnce()) -> usize {
    let parsed = ShardFile::parse(shard).unwrap();
    // SAFETY: written before arming, read by the allocator only while armed.
    unsafe {
        (*std::ptr::addr_of_mut!(HEX)).copy_from_slice(parsed.share.value_hex().as_bytes());
        (*std::ptr::addr_of_mut!(RAW)).copy_from_slice(parsed.share.expose_value());
        let s: Option<Scalar> = Scalar::from_repr((*parsed.share.expose_value()).into()).into();
        let mem: [u8; 32] = std::mem::transmute_copy(&s.unwrap());
        (*std::ptr::addr_of_mut!(SCALAR)).copy_from_slice(&mem);
    }
    drop(parsed);
    HITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    HITS.load(Ordering::SeqCst)
}

#[test]
fn parsing_a_shard_leaves_no_copy_of_its_value_in_freed_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = known_shard(1);
    let hits = freed_blocks_holding_value(&text, || {
        let shard = ShardFile::parse(&text).unwrap();
        let _json = shard.to_json();
        let _sum = shard.checksum();
    });
    assert_eq!(hits, 0, "freed blocks still holding the share value");
}

#[test]
fn a_shard_refused_after_its_value_was_read_leaves_no_copy_either() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = known_shard(2);
    let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    // Sorted after "value", so it is met once the value has been taken.
    v["zzz_unknown"] = "x".into();
    let unknown = serde_json::to_vec(&v).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    v["custodian"] = "Mallory".into();
    let bad_checksum = serde_json::to_vec(&v).unwrap();
    let hits = freed_blocks_holding_value(&text, || {
        assert!(ShardFile::parse(&unknown).is_err());
        assert!(ShardFile::parse(&bad_checksum).is_err());
    });
    assert_eq!(hits, 0, "freed blocks still holding the share value");
}

#[test]
fn combining_shares_leaves_no_copy_of_a_share_in_freed_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let texts: Vec<Vec<u8>> = (1..=3).map(known_shard).collect();
    let shards: Vec<ShardFile> = texts.iter().map(|t| ShardFile::parse(t).unwrap()).collect();
    let hits = freed_blocks_holding_value(&texts[0], || {
        let shares: Vec<shamir::Share> = shards.iter().map(|s| s.share.clone()).collect();
        let key = shamir::combine_checked(&shares, &shards[0].info.commitments).unwrap();
        assert_eq!(key.fingerprint(), shards[0].info.fingerprint);
    });
    assert_eq!(hits, 0, "freed blocks still holding a share value");
}

#[test]
fn splitting_leaves_no_copy_of_the_key_in_freed_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let key = keyceremony::secret::RootKey::generate();
    // SAFETY: written before arming, read by the allocator only while armed.
    unsafe {
        (*std::ptr::addr_of_mut!(HEX)).copy_from_slice(key.to_hex().as_bytes());
        (*std::ptr::addr_of_mut!(RAW)).copy_from_slice(key.expose_bytes());
        let mem: [u8; 32] = std::mem::transmute_copy(&*key.scalar());
        (*std::ptr::addr_of_mut!(SCALAR)).copy_from_slice(&mem);
    }
    HITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let params = shamir::SplitParams::new(3, 5).unwrap();
    let (shares, _c) = shamir::split(&key, params, rand_core::OsRng);
    drop(shares);
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(
        HITS.load(Ordering::SeqCst),
        0,
        "freed blocks still holding the key"
    );
}
