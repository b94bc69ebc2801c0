//! Fuzz ipsec-lite's `ip xfrm state`-style configuration parser
//! (`ipsec_lite::config::parse`) with raw text and with lines assembled from its own
//! vocabulary (keywords, algorithm names, keys, addresses, odd and multi-byte
//! tokens, continuations and comments), so whole SAs parse and the checks behind the
//! tokens are reached. Invariants: no panic; an error names a line that exists and
//! never echoes a token that may be key material (`0x` and more than 8 digits); every
//! SA that parses keys with every available backend, and its `Debug` shows no key.
#![no_main]

use std::time::Instant;

use arbitrary::Arbitrary;
use ipsec_lite::Backend;
use libfuzzer_sys::fuzz_target;

const WORDS: &[&str] = &[
    "ip",
    "xfrm",
    "state",
    "add",
    "src",
    "dst",
    "proto",
    "esp",
    "spi",
    "0x100",
    "0x1000",
    "7",
    "dir",
    "in",
    "out",
    "mode",
    "transport",
    "tunnel",
    "reqid",
    "1",
    "aead",
    "'rfc4106(gcm(aes))'",
    "rfc7539esp(chacha20,poly1305)",
    "128",
    "96",
    "enc",
    "cbc(aes)",
    "auth",
    "auth-trunc",
    "hmac(sha1)",
    "hmac(sha256)",
    "sel",
    "udp",
    "tcp",
    "any",
    "sport",
    "dport",
    "1701",
    "4500",
    "encap",
    "espinudp",
    "0.0.0.0",
    "flag",
    "esn",
    "noecn",
    "limit",
    "packet-soft",
    "packet-hard",
    "byte-soft",
    "time-hard",
    "192.0.2.1",
    "192.0.2.2",
    "192.0.2.1/32",
    "2001:db8::1",
    "2001:db8::/64",
    "::",
    "\\",
    "#",
    "\n",
    // keys: AES-GCM-128 + salt (20 bytes), 36 bytes, AES-128 (16), SHA-1 (20), SHA-256 (32)
    "0x0123456789abcdef0123456789abcdef01234567",
    "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567",
    "0x00112233445566778899aabbccddeeff",
    "0x0011223344556677889900112233445566778899",
    "0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    // hostile tokens
    "0x1\u{e9}1",
    "\u{e9}",
    "0x",
    "0X",
    "0x0",
    "+f",
    "-1",
    "4294967296",
    "0xffffffff",
    "99999999999999999999",
    "/",
    "1.2.3.4/33",
    "''",
    "'",
    "\"",
    "\u{1F600}",
    "\t",
];

#[derive(Arbitrary, Debug)]
enum Tok {
    Word(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: String,
    toks: Vec<Tok>,
}

fn check(text: &str) {
    match ipsec_lite::config::parse(text) {
        Ok(cfgs) => {
            for c in &cfgs {
                let dbg = format!("{c:?}");
                for &b in Backend::available() {
                    let sa = c.build(Instant::now(), b);
                    assert!(sa.is_ok(), "parsed SA does not key: {sa:?} {dbg}");
                }
                // The key bytes never appear in Debug (as a byte list or hex).
                let k = &c.params.enc_key;
                if k.len() >= 8 && k[0] != k[1] {
                    let list = format!("{}, {}, {}, {}", k[0], k[1], k[2], k[3]);
                    assert!(!dbg.contains(&list), "key in Debug: {dbg}");
                    let hex: String = k[..8].iter().map(|b| format!("{b:02x}")).collect();
                    assert!(!dbg.to_lowercase().contains(&hex), "key in Debug: {dbg}");
                }
            }
        }
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= text.lines().count().max(1),
                "{e:?}"
            );
            let t = e.token.as_bytes();
            let keyish = t.len() > 10 && t[..2].eq_ignore_ascii_case(b"0x");
            assert!(!keyish, "key-like token echoed: {e}");
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|input: Input| {
    check(&input.raw);
    let mut text = String::new();
    for t in input.toks.iter().take(200) {
        match t {
            Tok::Word(w) => text.push_str(WORDS[usize::from(*w) % WORDS.len()]),
            Tok::Text(s) => text.push_str(s),
        }
        text.push(' ');
    }
    check(&text);
});
