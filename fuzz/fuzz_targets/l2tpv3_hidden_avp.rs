//! Hidden-AVP unhiding (RFC 3931 section 5.3) as a receiver does it: any hidden
//! value, attribute type, Random Vector and secret; `unhide` never panics, what it
//! returns is no longer than the hidden bytes allow, and it re-decodes as a clear
//! AVP of that type (the endpoint's next step) without panicking. Whatever `hide`
//! produces, `unhide` with the same inputs gives back exactly.
#![no_main]

use arbitrary::Arbitrary;
use l2tpv3::avp::Avp;
use l2tpv3::control::auth::{self, AuthError, Keys};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    secret: Vec<u8>,
    attr_type: u16,
    random_vector: Vec<u8>,
    hidden: Vec<u8>,
    value: Vec<u8>,
    padding: Vec<u8>,
}

/// The clear AVP the endpoint rebuilds from an unhidden value: M set, vendor 0.
fn redecode(attr_type: u16, plain: &[u8]) {
    let len = 6 + plain.len();
    // An AVP's Length has 10 bits: a hidden AVP on the wire is at most 1023 bytes,
    // so what it unhides to fits; longer inputs are not AVPs at all.
    if len > 1023 {
        return;
    }
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&((len as u16) | 0x8000).to_be_bytes());
    bytes.extend_from_slice(&0u16.to_be_bytes());
    bytes.extend_from_slice(&attr_type.to_be_bytes());
    bytes.extend_from_slice(plain);
    if let Ok((avp, used)) = Avp::decode(&bytes, 0) {
        assert_eq!(used, len);
        assert!(avp.mandatory);
    }
}

fuzz_target!(|input: Input| {
    let keys = Keys::derive(&input.secret);
    match auth::unhide(
        &keys.hiding,
        input.attr_type,
        &input.random_vector,
        &input.hidden,
    ) {
        Ok(plain) => {
            assert!(plain.len() + 2 <= input.hidden.len());
            redecode(input.attr_type, &plain);
        }
        Err(AuthError::HiddenTooShort(n)) => assert!(n < 2 && n == input.hidden.len()),
        Err(AuthError::BadHiddenLength { claimed, available }) => {
            assert!(claimed > available);
            assert_eq!(available, input.hidden.len() - 2);
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
    if input.value.len() + input.padding.len() <= 1017 {
        let hidden = auth::hide(
            &keys.hiding,
            input.attr_type,
            &input.random_vector,
            &input.value,
            &input.padding,
        );
        assert_eq!(hidden.len(), 2 + input.value.len() + input.padding.len());
        let back = auth::unhide(&keys.hiding, input.attr_type, &input.random_vector, &hidden)
            .expect("own hidden value unhides");
        assert_eq!(back, input.value);
    }
});
