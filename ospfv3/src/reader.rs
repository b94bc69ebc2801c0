//! Internal cursor over a byte slice: nom parsers do the reading, the cursor tracks the
//! absolute offset so that every error can say where it happened.

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::{
    IResult, Parser,
    bytes::complete::take,
    number::complete::{be_u8, be_u16, be_u24, be_u32, be_u64},
};

use crate::error::{DecodeError, Result};

type NomError<'a> = nom::error::Error<&'a [u8]>;

/// A cursor whose `offset` is the absolute position of `rest[0]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A cursor over `buf`, whose first byte is at absolute `offset`.
    pub(crate) fn new(buf: &'a [u8], offset: usize) -> Self {
        Self { rest: buf, offset }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The unread bytes.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Runs a nom parser that needs `needed` bytes; maps failure to `Truncated`.
    pub(crate) fn parse<O, P>(&mut self, what: &'static str, needed: usize, mut p: P) -> Result<O>
    where
        P: Parser<&'a [u8], Output = O, Error = NomError<'a>>,
    {
        let res: IResult<&'a [u8], O, NomError<'a>> = p.parse(self.rest);
        match res {
            Ok((rest, out)) => {
                self.offset += self.rest.len() - rest.len();
                self.rest = rest;
                Ok(out)
            }
            Err(_) => Err(DecodeError::Truncated {
                what,
                offset: self.offset,
                needed,
                available: self.rest.len(),
            }),
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        self.parse(what, 1, be_u8)
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        self.parse(what, 2, be_u16)
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<u32> {
        self.parse(what, 3, be_u24)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        self.parse(what, 4, be_u32)
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        self.parse(what, 8, be_u64)
    }

    pub(crate) fn ipv4(&mut self, what: &'static str) -> Result<Ipv4Addr> {
        self.u32(what).map(Ipv4Addr::from)
    }

    pub(crate) fn ipv6(&mut self, what: &'static str) -> Result<Ipv6Addr> {
        let b = self.bytes(what, 16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Ipv6Addr::from(a))
    }

    /// Takes exactly `n` bytes.
    pub(crate) fn bytes(&mut self, what: &'static str, n: usize) -> Result<&'a [u8]> {
        self.parse(what, n, take(n))
    }

    /// Splits off a sub-reader over the next `n` bytes.
    pub(crate) fn sub(&mut self, what: &'static str, n: usize) -> Result<Reader<'a>> {
        let offset = self.offset;
        let b = self.bytes(what, n)?;
        Ok(Reader::new(b, offset))
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(&self, what: &'static str) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                offset: self.offset,
                count: self.rest.len(),
            })
        }
    }

    /// Checks before a loop that `count` entries of at least `min_size` bytes each can
    /// fit in what is left, so that a hostile count fails at once.
    pub(crate) fn check_count(
        &self,
        what: &'static str,
        count_offset: usize,
        count: u64,
        min_size: u64,
    ) -> Result<()> {
        let needed = count.saturating_mul(min_size);
        if needed > self.rest.len() as u64 {
            Err(DecodeError::CountTooLarge {
                what,
                offset: count_offset,
                count,
                needed,
                available: self.rest.len(),
            })
        } else {
            Ok(())
        }
    }
}
