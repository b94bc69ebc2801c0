//! Transform IDs (RFC 7296 3.3.2 and the IANA "IKEv2 Parameters" registry) for the
//! algorithms this crate negotiates.

/// ENCR_AES_CBC (RFC 3602), with a Key Length attribute of 128 or 256.
pub const ENCR_AES_CBC: u16 = 12;
/// ENCR_AES_GCM_16: AES-GCM with a 16-byte ICV (RFC 4106, RFC 5282), Key Length 128
/// or 256.
pub const ENCR_AES_GCM_16: u16 = 20;
/// ENCR_CHACHA20_POLY1305 (RFC 7634).
pub const ENCR_CHACHA20_POLY1305: u16 = 28;

/// PRF_HMAC_SHA2_256 (RFC 4868).
pub const PRF_HMAC_SHA2_256: u16 = 5;
/// PRF_HMAC_SHA2_384 (RFC 4868).
pub const PRF_HMAC_SHA2_384: u16 = 6;
/// PRF_HMAC_SHA2_512 (RFC 4868).
pub const PRF_HMAC_SHA2_512: u16 = 7;

/// NONE integrity (with AEAD ciphers).
pub const AUTH_NONE: u16 = 0;
/// AUTH_HMAC_SHA1_96 (RFC 2404): for ESP towards legacy routers.
pub const AUTH_HMAC_SHA1_96: u16 = 2;
/// AUTH_HMAC_SHA2_256_128 (RFC 4868).
pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
/// AUTH_HMAC_SHA2_384_192 (RFC 4868).
pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
/// AUTH_HMAC_SHA2_512_256 (RFC 4868).
pub const AUTH_HMAC_SHA2_512_256: u16 = 14;

/// No Extended Sequence Numbers.
pub const ESN_NONE: u16 = 0;
/// Extended Sequence Numbers.
pub const ESN_ENABLED: u16 = 1;
