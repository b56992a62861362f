//! The socket protocol of vsmartcard's `vpcd` reader driver for pcscd.
//!
//! The card connects to the driver (TCP, 127.0.0.1:35963 for the first
//! reader slot). Every message either way is a 2-byte big-endian length and
//! a payload. From the reader, a 1-byte payload is a control code; anything
//! longer is a command APDU, answered with one response APDU. The ATR
//! request is the only control code that is answered.

use std::io::{self, Read, Write};

/// YubiKey 5 (USB, CCID) answer-to-reset: T=1, historical bytes "YubiKey"
/// (`80 73 C0 21 C0 57 59 75 62 69 4B 65 79`), TCK 0x40.
pub const YUBIKEY5_ATR: [u8; 23] = [
    0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4b, 0x65, 0x79, 0x40,
];

/// What the reader asks of the card.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    PowerOff,
    PowerOn,
    Reset,
    GetAtr,
    /// A control code this card does not know; ignored.
    UnknownControl(u8),
    Apdu(Vec<u8>),
}

/// Reads one message; `None` when the reader closed the connection.
pub fn read_message(stream: &mut impl Read) -> io::Result<Option<Message>> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u16::from_be_bytes(len) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok(Some(match payload.as_slice() {
        [0] => Message::PowerOff,
        [1] => Message::PowerOn,
        [2] => Message::Reset,
        [4] => Message::GetAtr,
        [code] => Message::UnknownControl(*code),
        _ => Message::Apdu(payload),
    }))
}

/// Sends one length-prefixed payload (an ATR or a response APDU).
pub fn write_message(stream: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over 65535 bytes"))?;
    let mut framed = Vec::with_capacity(payload.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    stream.write_all(&framed)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_check_byte_is_the_xor_of_t0_to_the_last_historical_byte() {
        let tck = YUBIKEY5_ATR[1..YUBIKEY5_ATR.len() - 1]
            .iter()
            .fold(0u8, |a, b| a ^ b);
        assert_eq!(tck, YUBIKEY5_ATR[YUBIKEY5_ATR.len() - 1]);
        // T0 announces 13 historical bytes, TD1 and TD2 announce T=1.
        assert_eq!(YUBIKEY5_ATR[1] & 0x0f, 13);
        assert_eq!(YUBIKEY5_ATR[5] & 0x0f, 1);
        assert_eq!(&YUBIKEY5_ATR[15..22], b"YubiKey");
    }

    #[test]
    fn control_bytes_and_apdus_are_told_apart() {
        let wire = [0, 1, 4, 0, 1, 0, 0, 5, 0, 0xfd, 0, 0, 0];
        let mut r = &wire[..];
        assert_eq!(read_message(&mut r).unwrap(), Some(Message::GetAtr));
        assert_eq!(read_message(&mut r).unwrap(), Some(Message::PowerOff));
        assert_eq!(
            read_message(&mut r).unwrap(),
            Some(Message::Apdu(vec![0, 0xfd, 0, 0, 0]))
        );
        assert_eq!(read_message(&mut r).unwrap(), None);
        let mut out = Vec::new();
        write_message(&mut out, &[0x90, 0x00]).unwrap();
        assert_eq!(out, [0, 2, 0x90, 0x00]);
    }
}
