//! A bounds-checked cursor: every read checks the bytes left and reports the absolute
//! offset of the structure on failure.

use super::error::{DecodeError, Part};

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the bytes handed to the decoder.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn take(&mut self, n: usize, part: Part) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                part,
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub(crate) fn u8(&mut self, part: Part) -> Result<u8, DecodeError> {
        Ok(self.take(1, part)?[0])
    }

    pub(crate) fn peek_u8(&self, part: Part) -> Result<u8, DecodeError> {
        if self.is_empty() {
            return Err(DecodeError::Truncated {
                part,
                offset: self.offset(),
                needed: 1,
                available: 0,
            });
        }
        Ok(self.buf[self.pos])
    }

    pub(crate) fn u16(&mut self, part: Part) -> Result<u16, DecodeError> {
        let b = self.take(2, part)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, part: Part) -> Result<u32, DecodeError> {
        let b = self.take(4, part)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn array<const N: usize>(&mut self, part: Part) -> Result<[u8; N], DecodeError> {
        let b = self.take(N, part)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// A sub-reader over the next `n` bytes, keeping absolute offsets.
    pub(crate) fn sub(&mut self, n: usize, part: Part) -> Result<Reader<'a>, DecodeError> {
        let base = self.offset();
        let s = self.take(n, part)?;
        Ok(Reader::new(s, base))
    }
}
