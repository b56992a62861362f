//! Hand-made archives and seals for the bundle tests, written here
//! independently of the toolkit's own tar writer and ciphers.
#![allow(dead_code)]

use std::io::Write;

/// A raw ustar header, written here independently of the toolkit's writer.
pub fn ustar(name: &str, kind: u8, size: u64, link: &str) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000600");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    if size > 0o77777777777 {
        // GNU base-256 for sizes beyond 11 octal digits.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    } else {
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    }
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

pub fn entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut v = ustar(name, b'0', data.len() as u64, "");
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

pub fn finish(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend([0u8; 1024]);
    tar
}

pub fn seal_age(plain: &[u8], to: &age::x25519::Recipient) -> Vec<u8> {
    let enc = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap();
    out
}

/// The Nexus format from its description, with one-shot AES-GCM.
pub fn seal_nexus(tar: &[u8], passphrase: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit};
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(tar).unwrap();
    let gz = gz.finish().unwrap();
    let salt = [0x5au8; 16];
    let nonce = [0x3cu8; 12];
    let mut key = [0u8; 32];
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(65536, 1, 4, Some(32)).unwrap(),
    )
    .hash_password_into(passphrase, &salt, &mut key)
    .unwrap();
    let ct = aes_gcm::Aes256Gcm::new(&key.into())
        .encrypt(&nonce.into(), &gz[..])
        .unwrap();
    [&salt[..], &nonce[..], &ct[..]].concat()
}
