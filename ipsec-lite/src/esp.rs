//! The ESP packet format (RFC 4303 section 2): header, trailer and in-place
//! protection.
//!
//! ```text
//! | SPI (4) | Sequence Number (4) | IV | Payload | Padding | Pad Length | Next Header | ICV |
//!                                       \________ encrypted ____________________________/
//! ```
//!
//! [`seal_in_place`] expects the payload already in the caller's buffer with headroom
//! for SPI, sequence number and IV before it and tailroom for padding, trailer and ICV
//! after it; nothing is copied. [`open_in_place`] decrypts where the ciphertext lies
//! and returns where the payload is.

use core::ops::Range;

use crate::error::{CryptoError, InboundError, OutboundError};
use crate::suite::{Suite, Transform};

/// SPI and sequence number (RFC 4303 sections 2.1, 2.2).
pub const HEADER_LEN: usize = 8;
/// Pad Length and Next Header (RFC 4303 sections 2.5, 2.6).
pub const TRAILER_LEN: usize = 2;
/// IP protocol number 59: "no next header", marks a dummy packet (RFC 4303 section 2.6).
pub const NEXT_HEADER_NONE: u8 = 59;

/// The fixed ESP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspHeader {
    /// Security Parameters Index.
    pub spi: u32,
    /// Low 32 bits of the sequence number.
    pub seq_lo: u32,
}

impl EspHeader {
    /// Read the header from the first 8 bytes.
    pub fn parse(pkt: &[u8]) -> Result<Self, InboundError> {
        if pkt.len() < HEADER_LEN {
            return Err(InboundError::Truncated {
                len: pkt.len(),
                min: HEADER_LEN,
            });
        }
        Ok(EspHeader {
            spi: u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]),
            seq_lo: u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
        })
    }

    /// Write the header into the first 8 bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.spi.to_be_bytes());
        out[4..8].copy_from_slice(&self.seq_lo.to_be_bytes());
    }
}

/// Bytes needed before the payload: header and IV.
pub fn headroom(suite: Suite) -> usize {
    HEADER_LEN + suite.iv_len()
}

/// Padding for a payload of `len` bytes so that payload + padding + trailer is a
/// multiple of the suite's alignment (RFC 4303 section 2.4).
pub fn pad_len(suite: Suite, len: usize) -> usize {
    let a = suite.align();
    (a - (len + TRAILER_LEN) % a) % a
}

/// Bytes needed after a payload of `len` bytes: padding, trailer and ICV.
pub fn tailroom(suite: Suite, len: usize) -> usize {
    pad_len(suite, len) + TRAILER_LEN + suite.icv_len()
}

/// Tailroom that suffices for any payload length.
pub fn max_tailroom(suite: Suite) -> usize {
    suite.align() - 1 + TRAILER_LEN + suite.icv_len()
}

/// Smallest valid ESP packet for the suite.
pub fn min_len(suite: Suite) -> usize {
    // The ciphertext holds at least the trailer, rounded up to the alignment.
    HEADER_LEN + suite.iv_len() + suite.align().max(TRAILER_LEN) + suite.icv_len()
}

/// Build and protect an ESP packet around `buf[payload]`, in place.
///
/// `seq` is the full sequence number; with `esn` its high half enters the AAD or ICV
/// (RFC 4303 section 2.2.1, RFC 4106 section 5). `iv` overrides the IV the transform
/// would derive; it exists for known-answer tests and must otherwise be `None`.
/// Returns the ESP packet, a sub-slice of `buf` starting `headroom` bytes before the
/// payload.
#[allow(clippy::too_many_arguments)]
pub fn seal_in_place<'a>(
    t: &Transform,
    spi: u32,
    seq: u64,
    esn: bool,
    iv: Option<&[u8]>,
    buf: &'a mut [u8],
    payload: Range<usize>,
    next_header: u8,
) -> Result<&'a mut [u8], OutboundError> {
    let suite = t.suite();
    if payload.start > payload.end || payload.end > buf.len() {
        return Err(OutboundError::Range {
            start: payload.start,
            end: payload.end,
            len: buf.len(),
        });
    }
    let head = headroom(suite);
    if payload.start < head {
        return Err(OutboundError::Headroom {
            need: head,
            have: payload.start,
        });
    }
    let len = payload.end - payload.start;
    let pad = pad_len(suite, len);
    let tail = pad + TRAILER_LEN + suite.icv_len();
    let have = buf.len() - payload.end;
    if have < tail {
        return Err(OutboundError::Tailroom { need: tail, have });
    }
    let start = payload.start - head;
    let end = payload.end + tail;
    let pkt = &mut buf[start..end];
    EspHeader {
        spi,
        seq_lo: seq as u32,
    }
    .emit(pkt);
    let iv_slot = &mut pkt[HEADER_LEN..head];
    match iv {
        Some(v) if v.len() == iv_slot.len() => iv_slot.copy_from_slice(v),
        Some(_) => return Err(CryptoError::Backend.into()),
        None => t.fill_iv(seq, iv_slot)?,
    }
    // Monotonic padding 1, 2, 3, ... (RFC 4303 section 2.4).
    let trailer_at = head + len;
    for (i, b) in pkt[trailer_at..trailer_at + pad].iter_mut().enumerate() {
        *b = (i + 1) as u8;
    }
    pkt[trailer_at + pad] = pad as u8;
    pkt[trailer_at + pad + 1] = next_header;
    let seq_hi = esn.then_some((seq >> 32) as u32);
    t.seal(pkt, seq_hi)?;
    Ok(pkt)
}

/// Where the payload of an opened packet lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// Payload range within the ESP packet.
    pub payload: Range<usize>,
    /// Next Header: 4 (IPv4) or 41 (IPv6) in tunnel mode, the transport protocol in
    /// transport mode, 59 for a dummy packet.
    pub next_header: u8,
}

/// Integrity-check and decrypt `pkt` in place, then verify the trailer.
///
/// `seq` is the full sequence number the caller inferred (used in errors, and its high
/// half in the AAD or ICV when `esn`). Anti-replay is the caller's job.
pub fn open_in_place(
    t: &Transform,
    pkt: &mut [u8],
    seq: u64,
    esn: bool,
) -> Result<Decrypted, InboundError> {
    let suite = t.suite();
    let hdr = EspHeader::parse(pkt)?;
    let spi = hdr.spi;
    let min = min_len(suite);
    if pkt.len() < min {
        return Err(InboundError::Truncated {
            len: pkt.len(),
            min,
        });
    }
    let head = headroom(suite);
    let body_end = pkt.len() - suite.icv_len();
    let seq_hi = esn.then_some((seq >> 32) as u32);
    let clen = body_end - head;
    t.open(pkt, seq_hi).map_err(|e| match e {
        CryptoError::Alignment => InboundError::BadAlignment {
            spi,
            len: clen,
            block: suite.align(),
        },
        _ => InboundError::Integrity { spi, seq },
    })?;
    if !clen.is_multiple_of(suite.align()) {
        return Err(InboundError::BadAlignment {
            spi,
            len: clen,
            block: suite.align(),
        });
    }
    let pad_len_at = body_end - 2;
    let pad = usize::from(pkt[pad_len_at]);
    let next_header = pkt[body_end - 1];
    if pad > clen - TRAILER_LEN {
        return Err(InboundError::BadPadding {
            spi,
            offset: pad_len_at,
        });
    }
    let pad_start = pad_len_at - pad;
    for (i, b) in pkt[pad_start..pad_len_at].iter().enumerate() {
        if usize::from(*b) != i + 1 {
            return Err(InboundError::BadPadding {
                spi,
                offset: pad_start + i,
            });
        }
    }
    Ok(Decrypted {
        payload: head..pad_start,
        next_header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_aligns() {
        for suite in Suite::ALL {
            for len in 0..64 {
                let total = len + pad_len(suite, len) + TRAILER_LEN;
                assert_eq!(total % suite.align(), 0);
                assert!(pad_len(suite, len) < suite.align());
                assert!(tailroom(suite, len) <= max_tailroom(suite));
            }
        }
    }
}
