//! Two stages on two cores: hashing and tar framing on one thread, the
//! cipher (and deflate) on another, joined by a small bounded channel, so
//! memory stays a few chunks whatever the payload size. Every chunk is
//! zeroed after use, since the first ones carry the key.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use zeroize::Zeroize;

use super::content::CHUNK;

/// Chunks in flight between the stages.
const DEPTH: usize = 4;

/// The producing end of a write pipeline.
pub struct ChannelWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let tx = self.tx.as_ref().expect("open until finished");
        tx.send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the writing stage stopped"))
    }

    fn close(&mut self) -> io::Result<()> {
        self.send()?;
        self.tx = None;
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = (CHUNK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Runs `produce` on this thread, writing through a channel into `sink` on
/// another. Returns what `produce` returned and `sink`, or the first error:
/// a failure of the writing stage wins over the broken pipe it causes.
pub fn write_pipeline<W, T, E>(
    sink: W,
    produce: impl FnOnce(&mut ChannelWriter) -> Result<T, E>,
    io_error: impl Fn(io::Error) -> E,
) -> Result<(T, W), E>
where
    W: Write + Send,
{
    std::thread::scope(|scope| {
        let (tx, rx): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) = sync_channel(DEPTH);
        let stage = scope.spawn(move || -> io::Result<W> {
            let mut sink = sink;
            for mut chunk in rx {
                let r = sink.write_all(&chunk);
                chunk.zeroize();
                r?;
            }
            Ok(sink)
        });
        let mut writer = ChannelWriter {
            tx: Some(tx),
            buf: Vec::with_capacity(CHUNK),
        };
        let produced = produce(&mut writer).and_then(|t| {
            writer.close().map_err(&io_error)?;
            Ok(t)
        });
        drop(writer);
        let sink = stage.join().expect("the writing stage does not panic");
        match (produced, sink) {
            (Ok(t), Ok(sink)) => Ok((t, sink)),
            (_, Err(e)) => Err(io_error(e)),
            (Err(e), Ok(_)) => Err(e),
        }
    })
}

/// The consuming end of a read pipeline.
pub struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.current.len() {
                let n = (self.current.len() - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.current.zeroize();
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the reading stage stopped",
                    ));
                }
            }
        }
    }
}

impl Drop for ChannelReader {
    fn drop(&mut self) {
        self.current.zeroize();
    }
}

/// Runs `source` (decryption, inflate) on another thread and `consume` on
/// this one, reading through a channel. `source` reads its input to the
/// end, then `finish` runs there (trailing-data and tag checks); its error
/// reaches `consume` as a read error.
pub fn read_pipeline<R, T, E>(
    source: R,
    finish: impl FnOnce(R) -> io::Result<()> + Send,
    consume: impl FnOnce(&mut ChannelReader) -> Result<T, E>,
) -> Result<T, E>
where
    R: Read + Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        scope.spawn(move || {
            let mut source = source;
            loop {
                let mut chunk = vec![0u8; CHUNK];
                let mut filled = 0;
                let mut ended = false;
                while filled < CHUNK {
                    match source.read(&mut chunk[filled..]) {
                        Ok(0) => {
                            ended = true;
                            break;
                        }
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            chunk.zeroize();
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                chunk.truncate(filled);
                if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
                    return; // the consumer stopped; its error tells why
                }
                if ended {
                    let last = finish(source).map(|()| Vec::new());
                    let _ = tx.send(last);
                    return;
                }
            }
        });
        let mut reader = ChannelReader {
            rx,
            current: Vec::new(),
            pos: 0,
            done: false,
        };
        consume(&mut reader)
        // Dropping the reader here unblocks the stage if it is still sending.
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_pipeline_carries_every_byte_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let (n, out) = write_pipeline(
            Vec::new(),
            |w| -> io::Result<usize> {
                for piece in data.chunks(1000) {
                    w.write_all(piece)?;
                }
                Ok(data.len())
            },
            |e| e,
        )
        .unwrap();
        assert_eq!(n, data.len());
        assert_eq!(out, data);
    }

    #[test]
    fn write_pipeline_reports_the_sinks_error_not_the_broken_pipe() {
        let err = write_pipeline(
            Failing,
            |w| -> io::Result<()> {
                for _ in 0..100 {
                    w.write_all(&[0u8; CHUNK])?;
                }
                Ok(())
            },
            |e| e,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }

    #[test]
    fn read_pipeline_delivers_data_then_the_final_check() {
        let data: Vec<u8> = (0..2 * CHUNK + 5).map(|i| (i % 13) as u8).collect();
        let got = read_pipeline(
            &data[..],
            |_| Ok(()),
            |r| -> io::Result<Vec<u8>> {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                Ok(v)
            },
        )
        .unwrap();
        assert_eq!(got, data);
        let err = read_pipeline(
            &data[..],
            |_| Err(io::Error::other("tag mismatch")),
            |r| -> io::Result<Vec<u8>> {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                Ok(v)
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "tag mismatch");
    }
}
