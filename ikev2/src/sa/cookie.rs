//! Stateless cookies (RFC 7296 2.6): `Cookie = <VersionIDofSecret> | Hash(Ni | IPi |
//! SPIi | <secret>)`, here with HMAC-SHA-256 keyed by the secret, truncated to 16 bytes.
//! The secret is drawn from the caller's RNG and rotated; the previous one stays valid
//! for one more period so a cookie handed out just before a rotation still works.

use core::net::IpAddr;

use aws_lc_rs::{constant_time, hmac};
use rand_core::Rng;
use zeroize::Zeroizing;

const MAC_LEN: usize = 16;

pub(crate) struct CookieJar {
    version: u8,
    current: Zeroizing<[u8; 32]>,
    previous: Option<Zeroizing<[u8; 32]>>,
}

impl CookieJar {
    pub(crate) fn new<R: Rng>(rng: &mut R) -> Self {
        let mut s = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut s[..]);
        CookieJar {
            version: 0,
            current: s,
            previous: None,
        }
    }

    /// New secret; the current one becomes the previous one.
    pub(crate) fn rotate<R: Rng>(&mut self, rng: &mut R) {
        let mut s = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut s[..]);
        self.previous = Some(core::mem::replace(&mut self.current, s));
        self.version = self.version.wrapping_add(1);
    }

    fn mac(secret: &[u8; 32], ni: &[u8], ip: IpAddr, spi_i: u64) -> [u8; MAC_LEN] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(ni);
        match ip {
            IpAddr::V4(a) => ctx.update(&a.octets()),
            IpAddr::V6(a) => ctx.update(&a.octets()),
        }
        ctx.update(&spi_i.to_be_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }

    pub(crate) fn make(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let mut c = Vec::with_capacity(1 + MAC_LEN);
        c.push(self.version);
        c.extend_from_slice(&Self::mac(&self.current, ni, ip, spi_i));
        c
    }

    /// Constant-time check against the current or the previous secret.
    pub(crate) fn verify(&self, cookie: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64) -> bool {
        let Some((&v, mac)) = cookie.split_first() else {
            return false;
        };
        let secret = if v == self.version {
            &self.current
        } else if v == self.version.wrapping_sub(1)
            && let Some(p) = &self.previous
        {
            p
        } else {
            return false;
        };
        constant_time::verify_slices_are_equal(mac, &Self::mac(secret, ni, ip, spi_i)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn cookie_binds_nonce_address_spi_and_survives_one_rotation() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut jar = CookieJar::new(&mut rng);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let c = jar.make(b"nonce-nonce-nonce", ip, 7);
        assert!(jar.verify(&c, b"nonce-nonce-nonce", ip, 7));
        assert!(!jar.verify(&c, b"nonce-nonce-nonceX", ip, 7));
        assert!(!jar.verify(&c, b"nonce-nonce-nonce", "192.0.2.2".parse().unwrap(), 7));
        assert!(!jar.verify(&c, b"nonce-nonce-nonce", ip, 8));
        assert!(!jar.verify(&[], b"nonce-nonce-nonce", ip, 7));
        jar.rotate(&mut rng);
        assert!(jar.verify(&c, b"nonce-nonce-nonce", ip, 7));
        jar.rotate(&mut rng);
        assert!(!jar.verify(&c, b"nonce-nonce-nonce", ip, 7));
    }
}
