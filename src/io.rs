//! Bounded connection I/O: a line reader with a capped buffer and an outbox with a byte cap.
//!
//! Invariants: a reader never holds more than its capacity (a longer line is an error that
//! closes the connection); an outbox never holds more than its cap (overflow marks it closed,
//! so a peer that stops reading is dropped instead of growing memory).

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::cell::{Cell, RefCell};
use std::fmt;

/// Why reading a line stopped.
#[derive(Debug)]
pub enum LineError {
    /// A line longer than the buffer.
    TooLong(usize),
    Io(std::io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong(cap) => write!(f, "line longer than {cap} bytes"),
            LineError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Bytes a line reader starts with: a share, a job or a login fits. A longer line grows the
/// buffer (doubling, up to the reader's capacity) and it shrinks back once that line is gone,
/// so hundreds of idle miners hold about 1 KB each, not their 4 KB worst case.
const LINE_START: usize = 1024;

/// Reads `\n`-terminated lines into a bounded buffer. `\r` before `\n` is stripped.
pub struct LineReader {
    /// The buffer; its length is the room it has now (≤ `cap`).
    buf: Vec<u8>,
    cap: usize,
    start: usize,
    end: usize,
}

impl LineReader {
    pub fn new(capacity: usize) -> Self {
        LineReader {
            buf: vec![0; LINE_START.min(capacity)],
            cap: capacity,
            start: 0,
            end: 0,
        }
    }

    /// Next line (without the terminator), `Ok(None)` at end of stream. Cancel-safe: bytes read
    /// stay in the buffer if the future is dropped.
    pub async fn next_line<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<&[u8]>, LineError> {
        self.shrink_after_long_line();
        let range = loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let (s, mut e) = (self.start, self.start + i);
                self.start = e + 1;
                if e > s && self.buf[e - 1] == b'\r' {
                    e -= 1;
                }
                break s..e;
            }
            self.compact();
            if self.end == self.buf.len() {
                if self.buf.len() >= self.cap {
                    return Err(LineError::TooLong(self.cap));
                }
                let room = (self.buf.len() * 2).min(self.cap);
                self.buf.resize(room, 0);
            }
            let n = r
                .read(&mut self.buf[self.end..])
                .await
                .map_err(LineError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            self.end += n;
        };
        Ok(Some(&self.buf[range]))
    }

    /// Move the unread bytes to the front.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// After a long line: back to [`LINE_START`] bytes once what is left fits in them.
    fn shrink_after_long_line(&mut self) {
        let small = LINE_START.min(self.cap);
        if self.buf.len() > small && self.end - self.start <= small {
            self.compact();
            self.buf.truncate(small);
            self.buf.shrink_to_fit();
        }
    }

    /// Bytes buffered but not yet returned as a line (a half line from a stalled peer).
    pub fn pending(&self) -> usize {
        self.end - self.start
    }
}

/// Outgoing bytes for one connection, filled synchronously by whoever has something to say and
/// drained by that connection's writer loop.
///
/// One task drains it, so one waker slot is its whole wake-up machinery (a channel would cost
/// each connection an allocation of several hundred bytes and one more per wait).
pub struct Outbox {
    buf: RefCell<Vec<u8>>,
    cap: usize,
    closed: Cell<bool>,
    /// The writer, while it waits for bytes or the close.
    writer: Cell<Option<std::task::Waker>>,
    written: Cell<u64>,
}

impl Outbox {
    pub fn new(cap: usize) -> Self {
        Outbox {
            buf: RefCell::new(Vec::new()),
            cap,
            closed: Cell::new(false),
            writer: Cell::new(None),
            written: Cell::new(0),
        }
    }

    fn wake_writer(&self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Completes once there are bytes to write or the outbox is closed.
    async fn ready(&self) {
        futures_lite::future::poll_fn(|cx| {
            if self.closed.get() || !self.buf.borrow().is_empty() {
                return std::task::Poll::Ready(());
            }
            self.writer.set(Some(cx.waker().clone()));
            std::task::Poll::Pending
        })
        .await
    }

    /// Append one or more lines with `f`. Returns false (and closes the outbox) if the cap is
    /// exceeded; returns false without writing if it is already closed.
    pub fn push(&self, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        if self.closed.get() {
            return false;
        }
        let mut b = self.buf.borrow_mut();
        f(&mut b);
        if b.len() > self.cap {
            b.clear();
            drop(b);
            self.close();
            return false;
        }
        drop(b);
        self.wake_writer();
        true
    }

    /// Stop the connection: the writer loop returns, which ends the connection task.
    pub fn close(&self) {
        self.closed.set(true);
        self.wake_writer();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The pending bytes (unit tests inspect what would be sent).
    #[cfg(test)]
    pub fn buffer_for_tests(&self) -> std::cell::RefMut<'_, Vec<u8>> {
        self.buf.borrow_mut()
    }

    /// Total bytes handed to the socket.
    pub fn bytes_written(&self) -> u64 {
        self.written.get()
    }

    /// Drain into `w` until closed or a write fails. Returns why it stopped.
    pub async fn run_writer<W: AsyncWrite + Unpin>(&self, w: &mut W) -> std::io::Result<()> {
        self.drain(w, None).await
    }

    /// Like [`Outbox::run_writer`], but every drained batch of queued bytes (whole messages,
    /// as `push` queues them) goes through `seal` on its way out, e.g. to encrypt SV2 frames.
    pub async fn run_writer_sealed<W: AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        mut seal: impl FnMut(&[u8], &mut Vec<u8>),
    ) -> std::io::Result<()> {
        self.drain(w, Some(&mut seal)).await
    }

    async fn drain<W: AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        mut seal: Option<Seal<'_>>,
    ) -> std::io::Result<()> {
        // `buf` and `spare` trade places on every batch; `wire` holds sealed bytes. After a
        // burst each is cut back to KEEP, so an idle connection holds little whatever its
        // busiest moment was (the cap bounds a burst, this bounds what stays after it).
        let mut spare = Vec::new();
        let mut wire = Vec::new();
        loop {
            self.ready().await;
            if self.closed.get() {
                // Flush what was queued before the close (e.g. a final error line).
                let last = std::mem::take(&mut *self.buf.borrow_mut());
                let out = sealed(&mut seal, &last, &mut wire);
                let _ = w.write_all(out).await;
                let _ = w.flush().await;
                return Ok(());
            }
            std::mem::swap(&mut spare, &mut *self.buf.borrow_mut());
            let out = sealed(&mut seal, &spare, &mut wire);
            w.write_all(out).await?;
            self.written.set(self.written.get() + out.len() as u64);
            spare.clear();
            trim(&mut spare);
            trim(&mut wire);
        }
    }
}

/// What turns queued plaintext into the bytes on the wire (SV2 encryption).
type Seal<'a> = &'a mut dyn FnMut(&[u8], &mut Vec<u8>);

/// The bytes to write for `plain`: itself, or what `seal` makes of it in `wire`.
fn sealed<'a>(seal: &mut Option<Seal<'_>>, plain: &'a [u8], wire: &'a mut Vec<u8>) -> &'a [u8] {
    match seal {
        Some(f) => {
            wire.clear();
            f(plain, wire);
            wire
        }
        None => plain,
    }
}

/// Capacity an outbox buffer keeps between bursts: a job with its difficulty fits; a
/// connection at rest holds at most twice this, however large its bursts were.
const KEEP: usize = 1024;

fn trim(v: &mut Vec<u8>) {
    if v.capacity() > KEEP && v.len() <= KEEP {
        v.shrink_to(KEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_outbox_after_bursts_keeps_small_buffers() {
        let o = Outbox::new(1 << 20);
        let mut sink: Vec<u8> = Vec::new();
        smol::block_on(async {
            let drive = async {
                for size in [100_000, 100_000, 10] {
                    assert!(o.push(|b| b.resize(b.len() + size, b'x')));
                    for _ in 0..4 {
                        smol::future::yield_now().await;
                    }
                    assert!(o.buf.borrow().is_empty(), "drained");
                }
                Ok(())
            };
            smol::future::or(drive, o.run_writer(&mut sink))
                .await
                .unwrap();
        });
        assert_eq!(sink.len(), 200_010);
        assert!(
            o.buf.borrow().capacity() <= KEEP,
            "{}",
            o.buf.borrow().capacity()
        );
    }

    #[test]
    fn test_line_reader_splits_and_strips_cr() {
        smol::block_on(async {
            let mut src: &[u8] = b"one\r\ntwo\nthr";
            let mut r = LineReader::new(16);
            assert_eq!(r.next_line(&mut src).await.unwrap(), Some(&b"one"[..]));
            assert_eq!(r.next_line(&mut src).await.unwrap(), Some(&b"two"[..]));
            assert_eq!(r.next_line(&mut src).await.unwrap(), None);
            assert_eq!(r.pending(), 3);
        });
    }

    #[test]
    fn test_line_reader_too_long_line_is_error() {
        smol::block_on(async {
            let mut src: &[u8] = b"0123456789abcdefXYZ\n";
            let mut r = LineReader::new(16);
            assert!(matches!(
                r.next_line(&mut src).await,
                Err(LineError::TooLong(16))
            ));
        });
    }

    #[test]
    fn test_line_reader_long_line_grows_to_cap_then_shrinks_back() {
        smol::block_on(async {
            let long = vec![b'x'; 3000];
            let mut input = b"short\n".to_vec();
            input.extend_from_slice(&long);
            input.extend_from_slice(b"\nafter\n");
            let mut src: &[u8] = &input;
            let mut r = LineReader::new(4096);
            assert_eq!(r.buf.len(), LINE_START);
            assert_eq!(r.next_line(&mut src).await.unwrap(), Some(&b"short"[..]));
            assert_eq!(r.next_line(&mut src).await.unwrap(), Some(&long[..]));
            assert_eq!(r.buf.len(), 4096, "grew by doubling up to the cap");
            assert_eq!(r.next_line(&mut src).await.unwrap(), Some(&b"after"[..]));
            assert_eq!(r.buf.len(), LINE_START, "back to the start size");
            assert_eq!(r.next_line(&mut src).await.unwrap(), None);
        });
    }

    #[test]
    fn test_line_reader_line_over_grown_cap_is_error() {
        smol::block_on(async {
            let input = vec![b'y'; 5000];
            let mut src: &[u8] = &input;
            let mut r = LineReader::new(4096);
            assert!(matches!(
                r.next_line(&mut src).await,
                Err(LineError::TooLong(4096))
            ));
        });
    }

    #[test]
    fn test_outbox_overflow_closes() {
        let o = Outbox::new(8);
        assert!(o.push(|b| b.extend_from_slice(b"1234")));
        assert!(!o.push(|b| b.extend_from_slice(b"56789")));
        assert!(o.is_closed());
        assert!(!o.push(|b| b.push(b'x')));
    }

    #[test]
    fn test_outbox_writer_drains_then_stops_on_close() {
        smol::block_on(async {
            let o = Outbox::new(64);
            o.push(|b| b.extend_from_slice(b"hello\n"));
            o.close();
            let mut sink = Vec::new();
            o.run_writer(&mut sink).await.unwrap();
            assert_eq!(sink, b"hello\n");
        });
    }
}

/// Wakes every task waiting on it (single-threaded; no lock). A waiter registers, then the
/// condition it waits for is re-checked by its caller after each wake, so a wake between the
/// check and the registration is not lost: [`Notify::wait`] completes at the first
/// notification after the call.
#[derive(Default)]
pub struct Notify {
    wakers: RefCell<Vec<std::task::Waker>>,
    generation: Cell<u64>,
}

impl Notify {
    /// Wake every waiter.
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        for w in self.wakers.take() {
            w.wake();
        }
    }

    /// Tasks waiting now.
    pub fn waiting(&self) -> usize {
        self.wakers.borrow().len()
    }

    /// Complete at the next [`Notify::notify_all`].
    pub async fn wait(&self) {
        let start = self.generation.get();
        futures_lite::future::poll_fn(|cx| {
            if self.generation.get() != start {
                return std::task::Poll::Ready(());
            }
            let mut w = self.wakers.borrow_mut();
            if !w.iter().any(|x| x.will_wake(cx.waker())) {
                w.push(cx.waker().clone());
            }
            std::task::Poll::Pending
        })
        .await
    }
}
