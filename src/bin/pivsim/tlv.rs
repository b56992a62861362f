//! BER-TLV as the PIV applet speaks it (one-byte tags except `7F 49`,
//! definite lengths up to two bytes), and just enough DER to write the
//! attestation certificates.

/// Appends the length octets of a BER/DER definite length.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        assert!(len <= 0xffff, "TLV value too long: {len}");
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// A TLV with a one- or two-byte tag (given as bytes) around `value`.
pub fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + 3 + value.len());
    out.extend_from_slice(tag);
    push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// One parsed TLV: its one-byte tag and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// Why a TLV did not parse; the card answers these with a wrong-data status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Parses one TLV with a one-byte tag from the front of `input`; returns it and the rest.
pub fn parse(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), Malformed> {
    let (&tag, rest) = input.split_first().ok_or(Malformed)?;
    let (&first, rest) = rest.split_first().ok_or(Malformed)?;
    let (len, rest) = match first {
        n if n < 0x80 => (n as usize, rest),
        0x81 => {
            let (&n, rest) = rest.split_first().ok_or(Malformed)?;
            (n as usize, rest)
        }
        0x82 => {
            if rest.len() < 2 {
                return Err(Malformed);
            }
            ((rest[0] as usize) << 8 | rest[1] as usize, &rest[2..])
        }
        _ => return Err(Malformed),
    };
    if rest.len() < len {
        return Err(Malformed);
    }
    let (value, rest) = rest.split_at(len);
    Ok((Tlv { tag, value }, rest))
}

/// Parses a whole buffer as a sequence of one-byte-tag TLVs.
pub fn parse_all(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, Malformed> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (t, rest) = parse(input)?;
        out.push(t);
        input = rest;
    }
    Ok(out)
}

/// The first TLV with `tag` in a sequence.
pub fn find<'a>(items: &[Tlv<'a>], tag: u8) -> Option<&'a [u8]> {
    items.iter().find(|t| t.tag == tag).map(|t| t.value)
}

/// DER building blocks for the attestation certificates.
pub mod der {
    use super::tlv;

    pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(&[0x30], &parts.concat())
    }

    pub fn set(parts: &[&[u8]]) -> Vec<u8> {
        tlv(&[0x31], &parts.concat())
    }

    /// A non-negative INTEGER from big-endian magnitude bytes.
    pub fn uint(bytes: &[u8]) -> Vec<u8> {
        let mut b: &[u8] = bytes;
        while b.len() > 1 && b[0] == 0 {
            b = &b[1..];
        }
        let mut v = Vec::with_capacity(b.len() + 1);
        if b.is_empty() || b[0] & 0x80 != 0 {
            v.push(0);
        }
        v.extend_from_slice(b);
        tlv(&[0x02], &v)
    }

    /// An OBJECT IDENTIFIER from its arcs.
    pub fn oid(arcs: &[u64]) -> Vec<u8> {
        assert!(arcs.len() >= 2);
        let mut v = vec![(arcs[0] * 40 + arcs[1]) as u8];
        for &arc in &arcs[2..] {
            let mut chunk = Vec::new();
            let mut a = arc;
            chunk.push((a & 0x7f) as u8);
            a >>= 7;
            while a > 0 {
                chunk.push(0x80 | (a & 0x7f) as u8);
                a >>= 7;
            }
            chunk.reverse();
            v.extend_from_slice(&chunk);
        }
        tlv(&[0x06], &v)
    }

    pub fn bit_string(bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(bytes);
        tlv(&[0x03], &v)
    }

    pub fn octet_string(bytes: &[u8]) -> Vec<u8> {
        tlv(&[0x04], bytes)
    }

    pub fn utf8(s: &str) -> Vec<u8> {
        tlv(&[0x0c], s.as_bytes())
    }

    /// UTCTime `YYMMDDHHMMSSZ`.
    pub fn utc_time(s: &str) -> Vec<u8> {
        tlv(&[0x17], s.as_bytes())
    }

    /// GeneralizedTime `YYYYMMDDHHMMSSZ`.
    pub fn generalized_time(s: &str) -> Vec<u8> {
        tlv(&[0x18], s.as_bytes())
    }

    /// `[n]` EXPLICIT (constructed context tag).
    pub fn explicit(n: u8, inner: &[u8]) -> Vec<u8> {
        tlv(&[0xa0 | n], inner)
    }

    /// A Name with one RDN holding a commonName.
    pub fn name_cn(cn: &str) -> Vec<u8> {
        let atv = seq(&[&oid(&[2, 5, 4, 3]), &utf8(cn)]);
        seq(&[&set(&[&atv])])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_at_the_boundaries() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 3000] {
            let value = vec![0xaa; len];
            let enc = tlv(&[0x53], &value);
            let (t, rest) = parse(&enc).unwrap();
            assert_eq!(t.tag, 0x53);
            assert_eq!(t.value.len(), len);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn truncated_and_indefinite_lengths_are_refused() {
        assert_eq!(parse(&[0x53]), Err(Malformed));
        assert_eq!(parse(&[0x53, 0x05, 1, 2]), Err(Malformed));
        assert_eq!(parse(&[0x53, 0x80]), Err(Malformed));
        assert_eq!(parse(&[0x53, 0x82, 0x01]), Err(Malformed));
    }

    #[test]
    fn der_oid_and_integer_encode_as_x690_says() {
        // 1.2.840.10045.2.1 (id-ecPublicKey)
        assert_eq!(
            der::oid(&[1, 2, 840, 10045, 2, 1]),
            [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
        );
        assert_eq!(der::uint(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der::uint(&[0x00, 0x00, 0x7f]), [0x02, 0x01, 0x7f]);
    }
}
