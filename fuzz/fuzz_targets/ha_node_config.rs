//! The ha_node configuration parser on arbitrary text: never panics, never echoes a
//! secret in an error or in `Debug`, and what it accepts translates into a core
//! configuration (key files are not read here: a file path is not followed).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A marker planted in the secret values of the structured half of the input.
const MARK: &str = "Zq7SECRETzQ";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // The same text with a secret planted: errors and Debug must never show it.
    let planted = format!("l2tp_secret = \"{MARK}\"\nospf_auth_key = \"{MARK}\"\n{text}");
    check(&planted);
});

fn check(text: &str) {
    // `check-config`'s located validation: never panics, never shows a secret (key
    // files are followed there, so texts naming one are left to `Config::parse`).
    if !text.contains("_file") {
        if let Err(problems) = ha_node::check::check_text(text) {
            for p in problems {
                assert!(
                    !p.message.contains(MARK) && !p.field.contains(MARK),
                    "secret in a check-config problem: {p:?}"
                );
            }
        }
    }
    match ha_node::config::Config::parse(text) {
        Ok(cfg) => {
            let dbg = format!("{cfg:?}");
            assert!(!dbg.contains(MARK), "secret in Debug");
            let uses_files = cfg.l2tp_secret_file.is_some()
                || cfg.ospf_auth_key_file.is_some()
                || cfg.peers.iter().any(|p| {
                    p.esp
                        .as_ref()
                        .is_some_and(|e| e.key_out_file.is_some() || e.key_in_file.is_some())
                });
            if !uses_files {
                match cfg.core_config(1) {
                    Ok(core) => assert!(!format!("{core:?}").contains(MARK)),
                    Err(e) => assert!(!e.to_string().contains(MARK), "secret in error"),
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains(MARK), "secret in error: {msg}");
        }
    }
}
