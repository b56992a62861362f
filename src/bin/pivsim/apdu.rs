//! ISO 7816-4 command/response APDUs and the two chaining mechanisms the
//! PIV applet uses: command chaining (CLA bit 0x10: more data follows) and
//! response chaining (SW 61xx: fetch the rest with GET RESPONSE).

/// Status words the applet answers with.
pub mod sw {
    pub const OK: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const SECURITY_STATUS: u16 = 0x6982;
    pub const AUTH_BLOCKED: u16 = 0x6983;
    pub const CONDITIONS: u16 = 0x6985;
    pub const WRONG_DATA: u16 = 0x6a80;
    pub const NOT_FOUND: u16 = 0x6a82;
    pub const NO_SPACE: u16 = 0x6a84;
    pub const WRONG_P1P2: u16 = 0x6b00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6d00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6e00;

    /// Wrong PIN/PUK, `tries` attempts left.
    pub fn verify_fail(tries: u8) -> u16 {
        0x63c0 | u16::from(tries.min(15))
    }
}

/// The most command data pivsim accepts across a chain (a YubiKey takes about 3 kB objects).
pub const MAX_CHAINED_DATA: usize = 4096;
/// Response data per APDU before the rest is held back for GET RESPONSE.
pub const RESPONSE_CHUNK: usize = 256;

const INS_GET_RESPONSE: u8 = 0xc0;

/// A parsed command APDU (short form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
}

impl Command {
    /// Parses a short APDU: `CLA INS P1 P2 [Lc data] [Le]`.
    /// A 5-byte APDU is read as case 2 (Le only, no data).
    pub fn parse(raw: &[u8]) -> Option<Command> {
        if raw.len() < 4 {
            return None;
        }
        let (cla, ins, p1, p2) = (raw[0], raw[1], raw[2], raw[3]);
        let data = match raw.len() {
            4 | 5 => Vec::new(),
            _ => {
                let lc = raw[4] as usize;
                if lc == 0 {
                    // extended length: not used by PIV clients over T=1 here
                    return None;
                }
                let body = &raw[5..];
                // body is exactly the data, or the data plus one Le byte
                if body.len() != lc && body.len() != lc + 1 {
                    return None;
                }
                body[..lc].to_vec()
            }
        };
        Some(Command {
            cla,
            ins,
            p1,
            p2,
            data,
        })
    }
}

/// A response: data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    pub fn ok(data: Vec<u8>) -> Self {
        Response { data, sw: sw::OK }
    }

    pub fn status(sw: u16) -> Self {
        Response {
            data: Vec::new(),
            sw,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }
}

/// Something that answers complete (de-chained) commands.
pub trait Applet {
    fn process(&mut self, cmd: &Command) -> Response;
}

/// The chaining layer between the reader and the applet.
#[derive(Default)]
pub struct Transport {
    chain: Option<Command>,
    pending: Vec<u8>,
}

impl Transport {
    /// Forgets half-sent chains and unread responses (power off, reset).
    pub fn clear(&mut self) {
        self.chain = None;
        self.pending.clear();
    }

    /// Answers one raw command APDU with one raw response APDU.
    pub fn exchange(&mut self, raw: &[u8], applet: &mut dyn Applet) -> Vec<u8> {
        let Some(cmd) = Command::parse(raw) else {
            self.clear();
            return Response::status(sw::WRONG_LENGTH).to_bytes();
        };
        if cmd.cla & !0x10 != 0 {
            self.clear();
            return Response::status(sw::CLA_NOT_SUPPORTED).to_bytes();
        }

        if cmd.ins == INS_GET_RESPONSE {
            if self.pending.is_empty() {
                return Response::status(sw::CONDITIONS).to_bytes();
            }
            let rest = std::mem::take(&mut self.pending);
            return self.send_chunked(rest, sw::OK);
        }
        self.pending.clear();

        if cmd.cla & 0x10 != 0 {
            match &mut self.chain {
                Some(chain) if chain.ins == cmd.ins && chain.p1 == cmd.p1 && chain.p2 == cmd.p2 => {
                    chain.data.extend_from_slice(&cmd.data);
                }
                _ => self.chain = Some(cmd.clone()),
            }
            if self
                .chain
                .as_ref()
                .is_some_and(|c| c.data.len() > MAX_CHAINED_DATA)
            {
                self.chain = None;
                return Response::status(sw::WRONG_LENGTH).to_bytes();
            }
            return Response::status(sw::OK).to_bytes();
        }

        let full = match self.chain.take() {
            Some(mut chain) if chain.ins == cmd.ins && chain.p1 == cmd.p1 && chain.p2 == cmd.p2 => {
                chain.data.extend_from_slice(&cmd.data);
                chain.cla = cmd.cla;
                if chain.data.len() > MAX_CHAINED_DATA {
                    return Response::status(sw::WRONG_LENGTH).to_bytes();
                }
                chain
            }
            _ => cmd,
        };

        let response = applet.process(&full);
        self.send_chunked(response.data, response.sw)
    }

    fn send_chunked(&mut self, mut data: Vec<u8>, final_sw: u16) -> Vec<u8> {
        if data.len() <= RESPONSE_CHUNK {
            return Response { data, sw: final_sw }.to_bytes();
        }
        // Error status words never come with data, so a long answer is always a success.
        let rest = data.split_off(RESPONSE_CHUNK);
        let remaining = if rest.len() >= 256 {
            0
        } else {
            rest.len() as u16
        };
        self.pending = rest;
        Response {
            data,
            sw: 0x6100 | remaining,
        }
        .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Vec<Command>);

    impl Applet for Echo {
        fn process(&mut self, cmd: &Command) -> Response {
            self.0.push(cmd.clone());
            Response::ok(cmd.data.repeat(3))
        }
    }

    #[test]
    fn parses_the_forms_the_yubikey_crate_and_piv_tool_send() {
        let c = Command::parse(&[0, 0xfd, 0, 0, 0]).unwrap();
        assert!(c.data.is_empty());
        let c = Command::parse(&[0, 0x20, 0, 0x80, 2, 0x31, 0x32]).unwrap();
        assert_eq!(c.data, b"12");
        let c = Command::parse(&[0, 0x20, 0, 0x80, 2, 0x31, 0x32, 0]).unwrap();
        assert_eq!(c.data, b"12");
        assert!(Command::parse(&[0, 0x20, 0]).is_none());
        assert!(Command::parse(&[0, 0x20, 0, 0x80, 3, 0x31]).is_none());
    }

    #[test]
    fn command_chaining_joins_data_and_response_chaining_splits_it() {
        let mut t = Transport::default();
        let mut echo = Echo(Vec::new());
        let part1 = [&[0x10, 0xdb, 0x3f, 0xff, 200][..], &[1u8; 200]].concat();
        let part2 = [&[0x00, 0xdb, 0x3f, 0xff, 100][..], &[2u8; 100]].concat();
        assert_eq!(t.exchange(&part1, &mut echo), [0x90, 0x00]);
        let first = t.exchange(&part2, &mut echo);
        assert_eq!(echo.0.len(), 1, "the applet sees one command");
        assert_eq!(echo.0[0].data.len(), 300);
        // 900 bytes back: 256 + 256 + 256 + 132
        assert_eq!(first.len(), 258);
        assert_eq!(&first[256..], &[0x61, 0x00]);
        let mut total = first[..256].to_vec();
        loop {
            let r = t.exchange(&[0, 0xc0, 0, 0, 0], &mut echo);
            let (data, sw) = r.split_at(r.len() - 2);
            total.extend_from_slice(data);
            if sw == [0x90, 0x00] {
                break;
            }
            assert_eq!(sw[0], 0x61);
        }
        assert_eq!(total.len(), 900);
        assert_eq!(&total[..200], &[1u8; 200][..]);
        // nothing left to fetch
        assert_eq!(t.exchange(&[0, 0xc0, 0, 0, 0], &mut echo), [0x69, 0x85]);
    }
}
