//! Pre-shared key authentication (RFC 7296 2.15).

use subtle::ConstantTimeEq;

use super::secret::Secret;
use super::suite::Prf;

/// The key pad of RFC 7296 2.15 (17 ASCII bytes, no terminator).
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The AUTH payload data for SHARED_KEY_MIC (RFC 7296 2.15):
/// `prf(prf(psk, "Key Pad for IKEv2"), RealMessage | NonceData | prf(SK_p, ID'))`.
///
/// For the initiator's AUTH: `real_message` is its IKE_SA_INIT request as sent,
/// `peer_nonce` the responder's Nr, `sk_p` SK_pi and `id_body` IDi' (the ID payload
/// after its generic header, [`IdPayload::body_bytes`](crate::wire::IdPayload::body_bytes)).
/// For the responder's: its IKE_SA_INIT response, Ni, SK_pr and IDr'.
pub fn psk_auth(
    prf: Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &Secret,
    id_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.prf(sk_p.expose(), &[id_body]);
    let pad_key = prf.prf(psk, &[KEY_PAD]);
    prf.prf(
        pad_key.expose(),
        &[real_message, peer_nonce, maced_id.expose()],
    )
    .expose()
    .to_vec()
}

/// Checks a received SHARED_KEY_MIC AUTH value in constant time (the arguments as for
/// [`psk_auth`], from the peer's point of view). A length mismatch fails.
pub fn verify_psk_auth(
    prf: Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &Secret,
    id_body: &[u8],
    received: &[u8],
) -> bool {
    let expected = Secret::new(psk_auth(prf, psk, real_message, peer_nonce, sk_p, id_body));
    bool::from(expected.expose().ct_eq(received))
}
