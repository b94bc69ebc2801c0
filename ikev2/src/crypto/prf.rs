//! prf and prf+ (RFC 7296 2.13) over HMAC-SHA2 (RFC 4868).

use aws_lc_rs::hmac;
use zeroize::Zeroize;

use super::error::CryptoError;
use super::secret::Secret;
use super::suite::Prf;

impl Prf {
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Prf::HmacSha256 => hmac::HMAC_SHA256,
            Prf::HmacSha384 => hmac::HMAC_SHA384,
            Prf::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// `prf(key, data)` where `data` is the concatenation of `parts` (RFC 7296 2.13).
    pub fn prf(self, key: &[u8], parts: &[&[u8]]) -> Secret {
        let key = hmac::Key::new(self.algorithm(), key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        Secret::from_slice(ctx.sign().as_ref())
    }

    /// `prf+(key, seed)` truncated to `len` bytes (RFC 7296 2.13):
    /// `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`, at most 255 blocks.
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Result<Secret, CryptoError> {
        let hlen = self.output_len();
        if len > 255 * hlen {
            return Err(CryptoError::PrfPlusTooLong(len));
        }
        let key = hmac::Key::new(self.algorithm(), key);
        let mut out = Vec::with_capacity(len.div_ceil(hlen) * hlen);
        let mut prev = [0u8; 64];
        let mut prev_len = 0;
        let mut n: u8 = 1;
        while out.len() < len {
            let mut ctx = hmac::Context::with_key(&key);
            ctx.update(&prev[..prev_len]);
            for p in seed {
                ctx.update(p);
            }
            ctx.update(&[n]);
            let t = ctx.sign();
            let t = t.as_ref();
            prev[..t.len()].copy_from_slice(t);
            prev_len = t.len();
            out.extend_from_slice(t);
            n = n.wrapping_add(1);
        }
        prev.zeroize();
        out.truncate(len);
        Ok(Secret::new(out))
    }
}
