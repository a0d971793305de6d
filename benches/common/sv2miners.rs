//! Stratum V2 miners for the scale bench, on the SRI crates: the Noise NX initiator and the
//! `SetupConnection` / `Open*MiningChannel` exchanges are the test miners' own
//! (`tests/common/sv2util.rs`, `sv2channel.rs`, included by `scale.rs` with `#[path]`), and so is
//! the channel state ([`ChannelState::apply`]: jobs, `SetNewPrevHash`, `SetTarget`, share
//! answers). What is the bench's here is the I/O once the channel is open: frames are read
//! through a `BufReader` with blocking reads (the test helpers poll through 50 ms timeouts and
//! `peek`, which would make the load generator the bottleneck) and submits are encoded into a
//! buffer so that a window of them goes out in one write, as the SV1 miners do.
//!
//! Every connection comes from its own loopback address (127.1.x.y): hashmux rate-limits SV2
//! handshakes per address (a burst of 8, then 2 a second), which 64 or 256 miners on one
//! address would spend minutes waiting for; on a LAN each miner has its own address.

use crate::sv2miner::{open_channel, setup_connection, Applied, ChannelKind, ChannelState};
use crate::sv2util::{Frame, Wire};
use binary_sv2::{GetSize, Serialize, B032};
use codec_sv2::{
    Decrypted, MessageFrame, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use mining_sv2::{
    SubmitSharesExtended, SubmitSharesStandard, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
    MESSAGE_TYPE_SUBMIT_SHARES_STANDARD,
};
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Miners per source address (the handshake burst hashmux allows one address).
const MINERS_PER_ADDRESS: usize = 4;

/// One SV2 miner with one open channel (standard or extended).
pub struct Sv2BenchMiner {
    w: TcpStream,
    r: BufReader<TcpStream>,
    encoder: NoiseEncoder,
    enc: TransportEncryptState,
    decoder: NoiseDecoder,
    dec: Option<TransportDecryptState>,
    ch: ChannelState,
    /// The rolled part of the extranonce (extended channels; zeros).
    extranonce: Vec<u8>,
    sequence: u32,
    /// `SubmitShares.Error` received, and the last one's code.
    pub rejected: u64,
    pub last_refusal: Option<String>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Sv2BenchMiner {
    /// Connect miner `i` to `addr` from its own loopback address, run the Noise handshake
    /// against `authority`, `SetupConnection`, open a channel of `kind`, and wait (≤ 30 s) until
    /// a job is active.
    pub fn connect(
        addr: SocketAddr,
        authority: [u8; 32],
        i: usize,
        kind: &ChannelKind,
    ) -> io::Result<Sv2BenchMiner> {
        let n = i / MINERS_PER_ADDRESS;
        let from = Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8);
        let until = Instant::now() + Duration::from_secs(30);
        let stream = loop {
            match connect_from(from, addr) {
                Ok(s) => break s,
                // The SV2 listener may come up a moment after the SV1 one.
                Err(_) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        };
        let alive = || true;
        let mut wire = Wire::handshake(stream, Some(authority), &alive).map_err(other)?;
        setup_connection(&mut wire, addr, 0, &format!("bench/{i}"), &alive).map_err(other)?;
        let ch = open_channel(
            &mut wire,
            kind,
            &format!("rig{i}"),
            1.0e6,
            [0xff; 32],
            &alive,
        )
        .map_err(other)?;
        let Wire { stream, tx, rx } = wire;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut m = Sv2BenchMiner {
            w: tx.stream,
            r: BufReader::new(stream),
            encoder: tx.encoder,
            enc: tx.enc,
            decoder: rx.decoder,
            dec: rx.dec,
            extranonce: vec![0; ch.extranonce_size as usize],
            ch,
            sequence: 0,
            rejected: 0,
            last_refusal: None,
        };
        while m.ch.job().is_none() {
            m.next()?;
        }
        Ok(m)
    }

    /// Read one frame and apply it to the channel.
    fn next(&mut self) -> io::Result<Applied> {
        let mut f = self.recv()?;
        self.ch.apply(&mut f).map_err(other)
    }

    fn recv(&mut self) -> io::Result<Frame> {
        loop {
            if self.decoder.writable_len() > 0 {
                self.r.read_exact(self.decoder.writable())?;
            }
            let dec = self.dec.take().ok_or_else(|| other("decrypt state lost"))?;
            match self.decoder.next_transport_frame(dec) {
                Ok(Decrypted::Frame(mut frame, dec)) => {
                    self.dec = Some(dec);
                    let h = frame.header();
                    return Ok(Frame {
                        msg_type: h.msg_type(),
                        ext_type: h.ext_type_without_channel_msg(),
                        channel_msg: h.channel_msg(),
                        payload: frame.payload().to_vec(),
                    });
                }
                Ok(Decrypted::Incomplete(_, dec)) => self.dec = Some(dec),
                Err(e) => return Err(other(format!("decrypt/decode: {e}"))),
            }
        }
    }

    /// The nTime of the active job (max of its `min_ntime` and the prevhash's).
    fn ntime(&self) -> Option<u32> {
        self.ch.job().map(|j| self.ch.ntime_for(j))
    }
}

/// Encrypt `msg` as one channel message and append it to `out`.
fn encode<T: Serialize + GetSize>(
    encoder: &mut NoiseEncoder,
    enc: &mut TransportEncryptState,
    msg: T,
    msg_type: u8,
    out: &mut Vec<u8>,
) {
    let frame = MessageFrame::from_message(msg, msg_type, 0, true).expect("frame");
    let bytes = encoder.encode_transport(frame, enc).expect("encrypt");
    out.extend_from_slice(bytes.as_ref());
}

impl crate::BenchMiner for Sv2BenchMiner {
    /// Until the active job carries `ntime`: a `NewMiningJob` / `NewExtendedMiningJob` with
    /// that `min_ntime`, or a future job and the `SetNewPrevHash` naming it.
    fn await_job(&mut self, ntime: u32) -> io::Result<()> {
        while self.ntime() != Some(ntime) {
            self.next()?;
        }
        Ok(())
    }

    fn push_submit(&mut self, nonce: u32, out: &mut Vec<u8>) {
        let job = self.ch.job().expect("an active job");
        let (job_id, version) = (job.job_id, job.version);
        let ntime = self.ch.ntime_for(job);
        let seq = self.sequence;
        self.sequence = seq.wrapping_add(1);
        let channel_id = self.ch.channel_id;
        if self.ch.extended {
            let msg = SubmitSharesExtended {
                channel_id,
                sequence_number: seq,
                job_id,
                nonce,
                ntime,
                version,
                extranonce: B032::try_from(&self.extranonce[..]).expect("≤ 32 bytes"),
            };
            let ty = MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED;
            encode(&mut self.encoder, &mut self.enc, msg, ty, out);
        } else {
            let msg = SubmitSharesStandard {
                channel_id,
                sequence_number: seq,
                job_id,
                nonce,
                ntime,
                version,
            };
            let ty = MESSAGE_TYPE_SUBMIT_SHARES_STANDARD;
            encode(&mut self.encoder, &mut self.enc, msg, ty, out);
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Until `n` shares are answered (`SubmitShares.Success` counts the shares it covers).
    fn await_answers(&mut self, n: usize) -> io::Result<()> {
        use crate::sv2miner::ShareReply;
        let mut left = n as u64;
        while left > 0 {
            match self.next()? {
                Applied::Reply(ShareReply::Accepted {
                    new_submits_accepted_count,
                    ..
                }) => left = left.saturating_sub(new_submits_accepted_count.max(1) as u64),
                Applied::Reply(ShareReply::Rejected { error_code, .. }) => {
                    self.rejected += 1;
                    self.last_refusal = Some(error_code);
                    left -= 1;
                }
                Applied::Closed(why) => return Err(other(format!("channel closed: {why}"))),
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&self) -> (u64, Option<String>) {
        (self.rejected, self.last_refusal.clone())
    }
}

/// A TCP connection to `to` from the loopback address `from` (Linux routes all of 127/8 to
/// `lo`). The standard library cannot bind a socket before connecting it, hence the three
/// libc calls (the C library is linked anyway; Linux's `sockaddr_in` layout).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    #[repr(C)]
    struct SockaddrIn {
        family: u16,
        port: [u8; 2],
        addr: [u8; 4],
        zero: [u8; 8],
    }
    extern "C" {
        fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
        fn bind(fd: i32, addr: *const SockaddrIn, len: u32) -> i32;
        fn connect(fd: i32, addr: *const SockaddrIn, len: u32) -> i32;
    }
    const AF_INET: u16 = 2;
    const SOCK_STREAM: i32 = 1;
    const SOCK_CLOEXEC: i32 = 0o2_000_000;
    let SocketAddr::V4(to) = to else {
        return Err(other("the bench's SV2 listener is IPv4"));
    };
    let sa = |ip: Ipv4Addr, port: u16| SockaddrIn {
        family: AF_INET,
        port: port.to_be_bytes(),
        addr: ip.octets(),
        zero: [0; 8],
    };
    let (local, remote) = (sa(from, 0), sa(*to.ip(), to.port()));
    let len = std::mem::size_of::<SockaddrIn>() as u32;
    // SAFETY: plain socket calls on a descriptor this function owns from creation (OwnedFd
    // closes it on every return path); the addresses outlive the calls.
    unsafe {
        let fd = socket(i32::from(AF_INET), SOCK_STREAM | SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        if bind(fd, &local, len) != 0 || connect(fd, &remote, len) != 0 {
            return Err(io::Error::last_os_error());
        }
        let s = TcpStream::from(owned);
        s.set_nodelay(true)?;
        Ok(s)
    }
}
