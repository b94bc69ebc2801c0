//! Secret bytes: zeroized on drop, redacted in `Debug`.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Key material (SKEYSEED, SK_*, KEYMAT, Diffie-Hellman shared secrets). The bytes are
/// wiped when the value is dropped, never printed by `Debug`, and compared in constant
/// time (for equal lengths) by `==`.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_slice().ct_eq(other.0.as_slice()))
    }
}

impl Eq for Secret {}

impl Secret {
    /// Takes ownership of the bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// Copies the bytes.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret::new(bytes.to_vec())
    }

    /// The bytes, for handing to a cipher or to `ipsec-lite`.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let d = format!("{s:?}");
        assert!(!d.contains("de") && !d.contains("222"), "{d}");
        assert!(d.contains("4 bytes"));
    }

    #[test]
    fn equality() {
        let a = Secret::from_slice(&[1, 2, 3]);
        assert_eq!(a, Secret::new(vec![1, 2, 3]));
        assert_ne!(a, Secret::from_slice(&[1, 2, 4]));
        assert_ne!(a, Secret::from_slice(&[1, 2]));
        assert_eq!(Secret::new(vec![]), Secret::new(vec![]));
    }
}
