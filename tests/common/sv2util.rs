//! Shared pieces of the test-only Stratum V2 pool (`sv2pool.rs`) and the SRI-based test miners
//! (`sv2miner.rs`, `sv2client.rs`): Bitcoin arithmetic on `sha2` (sha256d, merkle fold, header,
//! 256-bit little-endian targets), base58check for authority keys (sv2-spec 04-Protocol-Security
//! §4.7), blocking frame I/O over the SRI codec (`codec_sv2` + `noise_sv2`), and the SRI Noise
//! initiator handshake ([`Wire::connect`]).
//!
//! Test crates include it next to the modules that use it, at the crate root (they refer to it
//! as `crate::sv2util`):
//!
//! ```ignore
//! #[path = "common/sv2util.rs"]
//! #[allow(dead_code)]
//! mod sv2util;
//! #[path = "common/sv2pool.rs"]
//! #[allow(dead_code)]
//! mod sv2pool;
//! ```
//!
//! Every wait here is bounded: reads poll through 50 ms timeouts ([`POLL`]) and a frame must
//! arrive whole within [`FRAME_DEADLINE`].

use binary_sv2::encodable::{EncodableField, EncodablePrimitive};
use binary_sv2::{GetSize, Serialize};
use codec_sv2::{
    Decoded, Decrypted, Handshake, InitiatorSent, MessageFrame, NoiseDecoder, NoiseEncoder,
    TransportDecryptState, TransportEncryptState,
};
use noise_sv2::{Initiator, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE};
use sha2::digest::core_api::{Block, Buffer, UpdateCore, VariableOutputCore};
use sha2::digest::Output;
use sha2::{Digest, Sha256, Sha256VarCore};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// BIP320 general-purpose version bits a miner may roll.
pub const BIP320_VERSION_MASK: u32 = 0x1fff_e000;
/// The `SetupConnection` protocol version spoken here.
pub const SV2_VERSION: u16 = 2;
/// Version prefix of a base58check-encoded authority key (sv2-spec §4.7), LE u16 1.
pub const AUTHORITY_KEY_VERSION: [u8; 2] = [1, 0];
/// `SetupConnection.flags` bit (mining protocol): the downstream rolls version bits.
pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
/// `SetupConnection.flags` bit (mining protocol): the downstream only takes standard jobs.
pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
/// Read timeout every socket here uses: the longest a stop flag goes unchecked.
pub const POLL: Duration = Duration::from_millis(50);
/// Bound on reading one frame (or one handshake message) once it has started.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Bitcoin arithmetic (our own, on sha2).

/// Seconds since the unix epoch.
pub fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// SHA-256 applied twice.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    let first = Sha256::digest(data);
    Sha256::digest(first).into()
}

/// Merkle root from the coinbase and the job's path, all in internal (raw sha256d) byte order:
/// `root = sha256d(coinbase)`, then `root = sha256d(root ‖ h)` for each path hash `h`.
pub fn merkle_root(coinbase: &[u8], path: &[[u8; 32]]) -> [u8; 32] {
    let mut root = sha256d(coinbase);
    for h in path {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&root);
        buf[32..].copy_from_slice(h);
        root = sha256d(&buf);
    }
    root
}

/// The 80-byte block header: version LE ‖ prev_hash (the U256 bytes as sent) ‖ merkle root (raw)
/// ‖ ntime LE ‖ nbits LE ‖ nonce LE.
pub fn block_header(
    version: u32,
    prev_hash: &[u8; 32],
    merkle_root: &[u8; 32],
    ntime: u32,
    nbits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&version.to_le_bytes());
    h[4..36].copy_from_slice(prev_hash);
    h[36..68].copy_from_slice(merkle_root);
    h[68..72].copy_from_slice(&ntime.to_le_bytes());
    h[72..76].copy_from_slice(&nbits.to_le_bytes());
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

/// Compare two 256-bit little-endian integers.
pub fn le256_cmp(a: &[u8; 32], b: &[u8; 32]) -> std::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// Target for a share difficulty: `0xffff·2^208 / difficulty`, as a 256-bit little-endian
/// integer (saturating at 2^256-1).
pub fn difficulty_to_target(difficulty: f64) -> [u8; 32] {
    let t = 65535.0 / difficulty * 2f64.powi(208);
    if !t.is_finite() || t >= 2f64.powi(256) {
        return [0xff; 32];
    }
    if t < 1.0 {
        return [0; 32];
    }
    // t = mantissa · 2^exp with a 53-bit integer mantissa.
    let bits = t.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut out = [0u8; 32];
    if exp < 0 {
        let v = mant >> (-exp) as u32;
        out[..8].copy_from_slice(&v.to_le_bytes());
    } else {
        // Place the mantissa bit by bit at position exp.
        for i in 0..53 {
            if (mant >> i) & 1 == 1 {
                let pos = i + exp as usize;
                if pos < 256 {
                    out[pos / 8] |= 1 << (pos % 8);
                }
            }
        }
    }
    out
}

/// The target a compact `nbits` encodes (256-bit little-endian): mantissa `nbits & 0x7fffff`
/// shifted by `8·(exponent − 3)` bits; zero for a negative mantissa or one shifted out of range.
pub fn nbits_to_target(nbits: u32) -> [u8; 32] {
    let exponent = (nbits >> 24) as usize;
    let mantissa = nbits & 0x007f_ffff;
    let mut out = [0u8; 32];
    if nbits & 0x0080_0000 != 0 {
        return out;
    }
    for (i, b) in mantissa.to_le_bytes()[..3].iter().enumerate() {
        // Byte i of the mantissa lands at byte (exponent − 3 + i) of the target.
        let pos = (exponent + i).checked_sub(3);
        match pos {
            Some(p) if p < 32 => out[p] = *b,
            Some(_) if *b != 0 => return [0; 32],
            _ => {}
        }
    }
    out
}

/// sha256d of 80-byte headers that share their first 64 bytes. The SHA-256 state after them
/// (the midstate) is kept, and the work goes through `sha2`'s block-level core, whose
/// compression function is built optimised even in test builds; the generic buffer code around
/// it is not, so the buffers are reused. About 2–3 µs a header in a debug build.
pub struct HeaderHasher {
    iv: Sha256VarCore,
    mid: Sha256VarCore,
    buf: Buffer<Sha256VarCore>,
    first: Output<Sha256VarCore>,
    second: Output<Sha256VarCore>,
}

impl HeaderHasher {
    /// Midstate of `header[..64]`.
    pub fn new(header: &[u8; 80]) -> Self {
        let iv = Sha256VarCore::new(32).expect("SHA-256 output size");
        let mut mid = iv.clone();
        mid.update_blocks(&[Block::<Sha256VarCore>::clone_from_slice(&header[..64])]);
        HeaderHasher {
            iv,
            mid,
            buf: Buffer::<Sha256VarCore>::default(),
            first: Output::<Sha256VarCore>::default(),
            second: Output::<Sha256VarCore>::default(),
        }
    }

    /// sha256d of the header whose last 16 bytes are `tail`.
    pub fn hash(&mut self, tail: &[u8; 16]) -> [u8; 32] {
        // Less than a block: the bytes only go into the (empty) buffer, finalize pads them.
        self.buf
            .digest_blocks(tail, |_| unreachable!("16 bytes fill no block"));
        let mut core = self.mid.clone();
        core.finalize_variable_core(&mut self.buf, &mut self.first);
        self.buf
            .digest_blocks(&self.first, |_| unreachable!("32 bytes fill no block"));
        let mut core = self.iv.clone();
        core.finalize_variable_core(&mut self.buf, &mut self.second);
        self.second.into()
    }
}

/// Try the nonces `from..from + count` (as u32, stopping at 2^32) on `header`, whose bytes
/// 76..80 are overwritten. Returns the first nonce whose sha256d meets `target` (hash ≤ target,
/// both 256-bit little-endian) with its hash, and how many nonces were tried.
pub fn search_nonces(
    header: &mut [u8; 80],
    from: u64,
    count: u64,
    target: &[u8; 32],
) -> (Option<(u32, [u8; 32])>, u64) {
    let end = from.saturating_add(count).min(1u64 << 32);
    let mut hasher = HeaderHasher::new(header);
    let mut tail: [u8; 16] = header[64..].try_into().expect("16 bytes");
    let mut tried = 0;
    for n in from..end {
        let nonce = n as u32;
        tail[12..].copy_from_slice(&nonce.to_le_bytes());
        let hash = hasher.hash(&tail);
        tried += 1;
        if le256_cmp(&hash, target).is_le() {
            header[76..].copy_from_slice(&nonce.to_le_bytes());
            return (Some((nonce, hash)), tried);
        }
    }
    if tried > 0 {
        header[76..].copy_from_slice(&tail[12..]);
    }
    (None, tried)
}

// ---------------------------------------------------------------------------------------------
// Base58check (our own).

const B58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58 (Bitcoin alphabet) of `data`.
pub fn base58_encode(data: &[u8]) -> String {
    let zeros = data.iter().take_while(|b| **b == 0).count();
    let mut digits: Vec<u8> = Vec::new(); // base-58 digits, least significant first
    for &byte in data {
        let mut carry = byte as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut s = String::with_capacity(zeros + digits.len());
    s.extend(std::iter::repeat_n('1', zeros));
    s.extend(digits.iter().rev().map(|d| B58[*d as usize] as char));
    s
}

/// Inverse of [`base58_encode`]; None on a character outside the alphabet.
pub fn base58_decode(s: &str) -> Option<Vec<u8>> {
    let zeros = s.bytes().take_while(|c| *c == b'1').count();
    let mut bytes: Vec<u8> = Vec::new(); // base-256, least significant first
    for c in s.bytes() {
        let mut carry = B58.iter().position(|x| *x == c)? as u32;
        for b in bytes.iter_mut() {
            carry += (*b as u32) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Some(out)
}

/// Base58check: `payload ‖ sha256d(payload)[..4]`, base58-encoded.
pub fn base58check_encode(payload: &[u8]) -> String {
    let mut v = payload.to_vec();
    v.extend_from_slice(&sha256d(payload)[..4]);
    base58_encode(&v)
}

/// Inverse of [`base58check_encode`]; None on a bad character or checksum.
pub fn base58check_decode(s: &str) -> Option<Vec<u8>> {
    let v = base58_decode(s)?;
    if v.len() < 4 {
        return None;
    }
    let (payload, check) = v.split_at(v.len() - 4);
    (sha256d(payload)[..4] == *check).then(|| payload.to_vec())
}

/// An authority x-only key as sv2-spec §4.7 prints it: base58check of `[1, 0] ‖ key`.
pub fn authority_key_to_base58(key: &[u8; 32]) -> String {
    let mut payload = AUTHORITY_KEY_VERSION.to_vec();
    payload.extend_from_slice(key);
    base58check_encode(&payload)
}

/// Inverse of [`authority_key_to_base58`]; None unless the version prefix is `[1, 0]`.
pub fn authority_key_from_base58(s: &str) -> Option<[u8; 32]> {
    let v = base58check_decode(s)?;
    if v.len() != 34 || v[..2] != AUTHORITY_KEY_VERSION {
        return None;
    }
    v[2..].try_into().ok()
}

// ---------------------------------------------------------------------------------------------
// Blocking frame I/O over the SRI codec, shared by the pool and the clients.

/// Wait until at least one byte can be read. Calls `idle` on every 50 ms timeout; an `Err` from
/// it, EOF, or passing `deadline` ends the wait with an error.
pub fn wait_readable(
    stream: &TcpStream,
    deadline: Option<Instant>,
    idle: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let mut b = [0u8; 1];
    loop {
        match stream.peek(&mut b) {
            Ok(0) => return Err("peer closed the connection".into()),
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                idle()?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err("timed out waiting for data".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Whether a byte can be read right now, without waiting. EOF is an error.
pub fn readable_now(stream: &TcpStream) -> Result<bool, String> {
    stream
        .set_nonblocking(true)
        .map_err(|e| format!("nonblocking: {e}"))?;
    let r = stream.peek(&mut [0u8; 1]);
    stream
        .set_nonblocking(false)
        .map_err(|e| format!("blocking: {e}"))?;
    match r {
        Ok(0) => Err("peer closed the connection".into()),
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Fill `buf` completely (within [`FRAME_DEADLINE`]), checking `alive` on every timeout.
pub fn read_full(
    stream: &TcpStream,
    buf: &mut [u8],
    alive: &dyn Fn() -> bool,
) -> Result<(), String> {
    let until = Instant::now() + FRAME_DEADLINE;
    let mut off = 0;
    while off < buf.len() {
        match (&*stream).read(&mut buf[off..]) {
            Ok(0) => return Err("peer closed the connection mid-frame".into()),
            Ok(n) => off += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if !alive() || Instant::now() >= until {
                    return Err("stopped or timed out mid-frame".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(())
}

/// A payload of arbitrary bytes, serialized as they are (no length prefix): lets a test send
/// any bytes under any message type through the SRI encoder.
struct RawPayload(Vec<u8>);

impl GetSize for RawPayload {
    fn get_size(&self) -> usize {
        self.0.len()
    }
}

impl From<RawPayload> for EncodableField<'static> {
    fn from(p: RawPayload) -> Self {
        EncodableField::Struct(
            p.0.into_iter()
                .map(|b| EncodableField::Primitive(EncodablePrimitive::U8(b)))
                .collect(),
        )
    }
}

/// Encrypting half of a connection: codec encoder + Noise state + socket.
pub struct Tx {
    pub stream: TcpStream,
    pub encoder: NoiseEncoder,
    pub enc: TransportEncryptState,
}

impl Tx {
    /// Serialize `msg`, frame it (extension 0) and send it encrypted.
    pub fn send<T: Serialize + GetSize>(
        &mut self,
        msg: T,
        msg_type: u8,
        channel_msg: bool,
    ) -> Result<(), String> {
        self.send_ext(msg, 0, msg_type, channel_msg)
    }

    /// Send `payload` as it is, under any extension type, message type and channel bit.
    pub fn send_raw(
        &mut self,
        ext_type: u16,
        msg_type: u8,
        channel_msg: bool,
        payload: &[u8],
    ) -> Result<(), String> {
        self.send_ext(
            RawPayload(payload.to_vec()),
            ext_type,
            msg_type,
            channel_msg,
        )
    }

    fn send_ext<T: Serialize + GetSize>(
        &mut self,
        msg: T,
        ext_type: u16,
        msg_type: u8,
        channel_msg: bool,
    ) -> Result<(), String> {
        let frame = MessageFrame::from_message(msg, msg_type, ext_type, channel_msg)
            .map_err(|e| format!("frame 0x{msg_type:02x}: {e:?}"))?;
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.enc)
            .map_err(|e| format!("encode 0x{msg_type:02x}: {e}"))?;
        (&self.stream)
            .write_all(bytes.as_ref())
            .map_err(|e| format!("write: {e}"))
    }
}

/// A decrypted frame: message type, extension type (without the channel bit), channel bit and
/// payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub msg_type: u8,
    pub ext_type: u16,
    pub channel_msg: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    /// Decode the payload as an SRI message.
    pub fn decode<'a, T: binary_sv2::Deserialize<'a>>(&'a mut self) -> Result<T, String> {
        let t = self.msg_type;
        binary_sv2::from_bytes(&mut self.payload).map_err(|e| format!("decode 0x{t:02x}: {e:?}"))
    }
}

/// Decrypting half of a connection.
pub struct Rx {
    pub decoder: NoiseDecoder,
    pub dec: Option<TransportDecryptState>,
}

impl Rx {
    /// Read one frame. `deadline` bounds the wait for its first byte; `idle` runs every 50 ms
    /// while waiting; `alive` aborts a partly read frame.
    pub fn recv(
        &mut self,
        stream: &TcpStream,
        deadline: Option<Instant>,
        idle: &mut dyn FnMut() -> Result<(), String>,
        alive: &dyn Fn() -> bool,
    ) -> Result<Frame, String> {
        loop {
            if self.decoder.writable_len() > 0 {
                wait_readable(stream, deadline, idle)?;
                read_full(stream, self.decoder.writable(), alive)?;
            }
            let dec = self.dec.take().ok_or("decrypt state lost")?;
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
                Err(e) => return Err(format!("decrypt/decode: {e}")),
            }
        }
    }
}

/// The initiator (client) end of an SV2 connection after the Noise handshake.
pub struct Wire {
    pub stream: TcpStream,
    pub tx: Tx,
    pub rx: Rx,
}

impl Wire {
    /// TCP connect (≤ 5 s), then [`Wire::handshake`].
    pub fn connect(
        addr: SocketAddr,
        authority_pubkey: Option<[u8; 32]>,
        alive: &dyn Fn() -> bool,
    ) -> Result<Wire, Sv2ClientError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| Sv2ClientError::Io(format!("connect {addr}: {e}")))?;
        Wire::handshake(stream, authority_pubkey, alive)
    }

    /// Run SRI's Noise NX initiator on `stream`: verify the responder's certificate against
    /// `authority_pubkey` (None: accept any key, as SRI's `Initiator::without_pk`), with SRI's own
    /// validity-window check. Sets 50 ms read timeouts; `alive` false aborts the wait.
    pub fn handshake(
        stream: TcpStream,
        authority_pubkey: Option<[u8; 32]>,
        alive: &dyn Fn() -> bool,
    ) -> Result<Wire, Sv2ClientError> {
        let io = |e: std::io::Error| Sv2ClientError::Io(e.to_string());
        stream.set_read_timeout(Some(POLL)).map_err(io)?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        let _ = stream.set_nodelay(true);
        let initiator = match authority_pubkey {
            Some(k) => Initiator::from_raw_k(k),
            None => Initiator::without_pk(),
        }
        .map_err(|e| Sv2ClientError::Handshake(e.into()))?;
        let (act1, sent) = Handshake::initiator(initiator)
            .step_0()
            .map_err(Sv2ClientError::Handshake)?;
        let mut encoder = NoiseEncoder::new();
        let bytes = encoder.encode_handshake(act1);
        (&stream).write_all(bytes.as_ref()).map_err(io)?;
        let mut decoder = NoiseDecoder::new();
        let deadline = Some(Instant::now() + FRAME_DEADLINE);
        let mut idle = || {
            if alive() {
                Ok(())
            } else {
                Err("stopped".to_string())
            }
        };
        let act2 = loop {
            match decoder.next_handshake_frame::<InitiatorSent>() {
                Ok(Decoded::Frame(f)) => break f,
                Ok(Decoded::Incomplete(_)) => {
                    wait_readable(&stream, deadline, &mut idle).map_err(Sv2ClientError::Io)?;
                    read_full(&stream, decoder.writable(), alive).map_err(Sv2ClientError::Io)?;
                }
                Err(e) => return Err(Sv2ClientError::Handshake(e)),
            }
        };
        let act2: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] = act2
            .payload()
            .try_into()
            .map_err(|_| Sv2ClientError::Protocol("act 2 length".into()))?;
        let transport = sent.step_2(act2).map_err(Sv2ClientError::Handshake)?;
        let (enc, dec) = transport.split();
        Ok(Wire {
            tx: Tx {
                stream: stream.try_clone().map_err(io)?,
                encoder,
                enc,
            },
            rx: Rx {
                decoder,
                dec: Some(dec),
            },
            stream,
        })
    }

    /// Send an SRI message (extension 0).
    pub fn send<T: Serialize + GetSize>(
        &mut self,
        msg: T,
        msg_type: u8,
        channel_msg: bool,
    ) -> Result<(), Sv2ClientError> {
        self.tx
            .send(msg, msg_type, channel_msg)
            .map_err(Sv2ClientError::Io)
    }

    /// Read one frame, waiting at most until `deadline` for its first byte.
    pub fn recv(
        &mut self,
        deadline: Option<Instant>,
        alive: &dyn Fn() -> bool,
    ) -> Result<Frame, Sv2ClientError> {
        let mut idle = || {
            if alive() {
                Ok(())
            } else {
                Err("stopped".to_string())
            }
        };
        self.rx
            .recv(&self.stream, deadline, &mut idle, alive)
            .map_err(Sv2ClientError::Io)
    }

    /// A frame if one has started to arrive (waiting up to 50 ms for it when `wait`), else None.
    pub fn poll(
        &mut self,
        wait: bool,
        alive: &dyn Fn() -> bool,
    ) -> Result<Option<Frame>, Sv2ClientError> {
        let ready = if wait {
            match wait_readable(&self.stream, Some(Instant::now()), &mut || Ok(())) {
                Ok(()) => true,
                Err(e) if e.starts_with("timed out") => false,
                Err(e) => return Err(Sv2ClientError::Io(e)),
            }
        } else {
            readable_now(&self.stream).map_err(Sv2ClientError::Io)?
        };
        if !ready {
            return Ok(None);
        }
        self.recv(Some(Instant::now() + FRAME_DEADLINE), alive)
            .map(Some)
    }
}

// ---------------------------------------------------------------------------------------------
// Client errors.

/// Why an SV2 client (test client, raw client, or a miner's session) failed.
#[derive(Debug)]
pub enum Sv2ClientError {
    /// TCP connect/read/write failed or timed out.
    Io(String),
    /// The SRI Noise initiator refused the handshake (e.g. a bad certificate).
    Handshake(codec_sv2::Error),
    /// The upstream answered something unexpected.
    Protocol(String),
    /// The upstream refused a request: which one (`SetupConnection`, `OpenMiningChannel`) and
    /// the error code it sent.
    Refused(&'static str, String),
}

impl Sv2ClientError {
    /// The initiator refused the responder's certificate (signature or validity window).
    pub fn is_invalid_certificate(&self) -> bool {
        self.invalid_certificate().is_some()
    }

    /// The refused certificate's `(valid_from, not_valid_after)`, if that is the error.
    pub fn invalid_certificate(&self) -> Option<(u32, u32)> {
        match self {
            Sv2ClientError::Handshake(codec_sv2::Error::NoiseSv2Error(
                noise_sv2::Error::InvalidCertificate(m),
            )) => Some((m.valid_from, m.not_valid_after)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Sv2ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sv2ClientError::Io(e) => write!(f, "io: {e}"),
            Sv2ClientError::Handshake(e) => write!(f, "handshake: {e}"),
            Sv2ClientError::Protocol(e) => write!(f, "protocol: {e}"),
            Sv2ClientError::Refused(what, code) => write!(f, "{what} refused: {code}"),
        }
    }
}
