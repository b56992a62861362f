//! Attestation certificates in the shape a YubiKey 5 issues them: an X.509
//! certificate for a generated key, signed by the key in slot f9, carrying
//! Yubico's extensions (firmware 1.3.6.1.4.1.41482.3.3, serial .3.7,
//! PIN/touch policy .3.8, form factor .3.9).
//!
//! The chain is NOT Yubico's: slot f9 holds a self-signed root that pivsim
//! made up when the card was created. Anything that checks attestation
//! against Yubico's CA must reject a pivsim card, and rightly so.

use p256::ecdsa::{signature::Signer, DerSignature, SigningKey};
use rand_core::{OsRng, RngCore};

use crate::state::SlotKey;
use crate::tlv::{der, tlv};

/// The PIV object holding the f9 attestation certificate.
pub const OBJ_ATTESTATION: u32 = 0x5f_ff01;

/// The subject of the made-up root; says plainly that it is not Yubico's.
pub const ROOT_SUBJECT: &str = "pivsim attestation root (simulated card, NOT Yubico)";

const YUBICO_ARC: [u64; 7] = [1, 3, 6, 1, 4, 1, 41482];

fn yubico_oid(last: u64) -> Vec<u8> {
    let mut arcs = YUBICO_ARC.to_vec();
    arcs.extend_from_slice(&[3, last]);
    der::oid(&arcs)
}

fn ecdsa_with_sha256() -> Vec<u8> {
    der::seq(&[&der::oid(&[1, 2, 840, 10045, 4, 3, 2])])
}

/// SubjectPublicKeyInfo of a P-256 point (uncompressed SEC1).
pub fn spki_p256(point: &[u8]) -> Vec<u8> {
    let alg = der::seq(&[
        &der::oid(&[1, 2, 840, 10045, 2, 1]),
        &der::oid(&[1, 2, 840, 10045, 3, 1, 7]),
    ]);
    der::seq(&[&alg, &der::bit_string(point)])
}

fn extension(oid: &[u8], value: &[u8]) -> Vec<u8> {
    der::seq(&[oid, &der::octet_string(value)])
}

fn random_serial() -> Vec<u8> {
    let mut s = [0u8; 16];
    OsRng.fill_bytes(&mut s);
    s[0] &= 0x7f;
    s[0] |= 0x01;
    der::uint(&s)
}

/// Signs a TBSCertificate with `issuer_key` and wraps it into a Certificate.
fn sign_certificate(tbs: &[u8], issuer_key: &SlotKey) -> Vec<u8> {
    let signing = SigningKey::from(issuer_key.secret());
    let signature: DerSignature = signing.sign(tbs);
    der::seq(&[
        tbs,
        &ecdsa_with_sha256(),
        &der::bit_string(signature.as_bytes()),
    ])
}

fn validity() -> Vec<u8> {
    der::seq(&[
        &der::utc_time("240101000000Z"),
        // RFC 5280 4.1.2.5: no well-defined expiration date.
        &der::generalized_time("99991231235959Z"),
    ])
}

/// The self-signed certificate for the attestation key in slot f9.
pub fn self_signed_root(key: &SlotKey, serial: u32) -> Vec<u8> {
    let name = der::name_cn(ROOT_SUBJECT);
    let basic_constraints = der::seq(&[
        &der::oid(&[2, 5, 29, 19]),
        &[0x01, 0x01, 0xff],                                   // critical
        &der::octet_string(&der::seq(&[&[0x01, 0x01, 0xff]])), // cA TRUE
    ]);
    let serial_ext = extension(&yubico_oid(7), &der::uint(&serial.to_be_bytes()));
    let tbs = der::seq(&[
        &der::explicit(0, &der::uint(&[2])),
        &random_serial(),
        &ecdsa_with_sha256(),
        &name,
        &validity(),
        &name,
        &spki_p256(&key.public_point()),
        &der::explicit(3, &der::seq(&[&basic_constraints, &serial_ext])),
    ]);
    sign_certificate(&tbs, key)
}

/// The attestation certificate for the key in `slot`, signed by the f9 key.
pub fn attest(
    slot: u8,
    key: &SlotKey,
    attestation_key: &SlotKey,
    serial: u32,
    version: [u8; 3],
) -> Vec<u8> {
    let subject = der::name_cn(&format!("YubiKey PIV Attestation {slot:02x}"));
    let extensions = der::seq(&[
        &extension(&yubico_oid(3), &version),
        &extension(&yubico_oid(7), &der::uint(&serial.to_be_bytes())),
        &extension(&yubico_oid(8), &[key.pin_policy, key.touch_policy]),
        // form factor 0x01: USB-A keychain
        &extension(&yubico_oid(9), &[0x01]),
    ]);
    let tbs = der::seq(&[
        &der::explicit(0, &der::uint(&[2])),
        &random_serial(),
        &ecdsa_with_sha256(),
        &der::name_cn(ROOT_SUBJECT),
        &validity(),
        &subject,
        &spki_p256(&key.public_point()),
        &der::explicit(3, &extensions),
    ]);
    sign_certificate(&tbs, attestation_key)
}

/// A certificate as the PIV certificate objects store it:
/// `70 cert 71 01 00 FE 00` (uncompressed, empty LRC).
pub fn certificate_object(cert: &[u8]) -> Vec<u8> {
    let mut out = tlv(&[0x70], cert);
    out.extend_from_slice(&[0x71, 0x01, 0x00, 0xfe, 0x00]);
    out
}
