//! Capture inspector: prints one JSON object per L2TPv3 packet in a pcap or pcapng
//! file (Ethernet, Linux cooked v1/v2 or raw IP link layer; IPv4 or IPv6; L2TPv3 over
//! UDP port 1701 or IP protocol 115).
//!
//! ```text
//! cargo run -p l2tpv3 --example l2tpv3_decode_pcap -- [--cookie-len 0|4|8] [--sublayer] FILE
//! ```
//!
//! The data header does not say how long the cookie is or whether a sublayer
//! follows (that is per-session configuration), so `--cookie-len` (default 0) and
//! `--sublayer` (Default L2-Specific Sublayer present; default absent) say it.
//! A packet that fails to decode is printed with its frame number and the error; the
//! exit status is 1 if any did.

#[path = "support/frames.rs"]
mod frames;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use l2tpv3::avp::{AvpType, AvpValue, MessageDigest};
use l2tpv3::data::{CookieLen, SessionConfig, SublayerKind};
use l2tpv3::{ControlMessage, Encapsulation, Packet};
use serde_json::{Value, json};

/// Prints one JSON object per L2TPv3 packet of a pcap or pcapng file.
#[derive(clap::Parser)]
struct Args {
    /// Cookie length of the data sessions, in bytes (0, 4 or 8).
    #[arg(long, default_value_t = 0, value_parser = cookie_len)]
    cookie_len: u8,
    /// The data sessions carry the Default L2-Specific Sublayer.
    #[arg(long)]
    sublayer: bool,
    /// The capture to decode.
    file: PathBuf,
}

fn cookie_len(s: &str) -> Result<u8, String> {
    s.parse::<u8>()
        .ok()
        .filter(|n| CookieLen::from_bytes(usize::from(*n)).is_some())
        .ok_or_else(|| format!("{s:?} is not 0, 4 or 8"))
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn avp_value(v: &AvpValue) -> Value {
    match v {
        AvpValue::MessageType(t) => json!({"number": t.number(), "name": t.name()}),
        AvpValue::ResultCode(rc) => {
            let mut o = json!({"result": rc.result});
            if let Some(e) = &rc.error {
                o["error"] = json!(e.code);
                o["message"] = text(&e.message);
            }
            o
        }
        AvpValue::TieBreaker(v) => json!(format!("{v:016x}")),
        AvpValue::HostName(b)
        | AvpValue::VendorName(b)
        | AvpValue::RemoteEndId(b)
        | AvpValue::PreferredLanguage(b) => text(b),
        AvpValue::RandomVector(b) | AvpValue::Nonce(b) => json!(hex::encode(b)),
        AvpValue::ReceiveWindowSize(v) => json!(v),
        AvpValue::SerialNumber(v)
        | AvpValue::PhysicalChannelId(v)
        | AvpValue::AssignedControlConnectionId(v)
        | AvpValue::LocalSessionId(v)
        | AvpValue::RemoteSessionId(v) => json!(v),
        AvpValue::RouterId(v) => json!(v),
        AvpValue::CircuitErrors(c) => json!({
            "hardware_overruns": c.hardware_overruns,
            "buffer_overruns": c.buffer_overruns,
            "timeout_errors": c.timeout_errors,
            "alignment_errors": c.alignment_errors,
        }),
        AvpValue::ExtendedVendor {
            vendor_id,
            attr_type,
            value,
        } => json!({"vendor_id": vendor_id, "attr_type": attr_type, "value": hex::encode(value)}),
        AvpValue::MessageDigest(d) => json!({
            "digest_type": d.digest_type(),
            "algorithm": match d { MessageDigest::HmacMd5(_) => "HMAC-MD5", MessageDigest::HmacSha1(_) => "HMAC-SHA-1" },
            "digest": hex::encode(d.digest()),
        }),
        AvpValue::PseudowireCapabilities(list) => {
            json!(list.iter().map(|t| t.0).collect::<Vec<_>>())
        }
        AvpValue::AssignedCookie(c) => json!(hex::encode(c.as_bytes())),
        AvpValue::PseudowireType(t) => json!(t.0),
        AvpValue::L2SpecificSublayer(t) => json!(t.0),
        AvpValue::DataSequencing(t) => json!(t.0),
        AvpValue::CircuitStatus(s) => json!({"active": s.active, "new": s.new}),
        AvpValue::TxConnectSpeed(v) | AvpValue::RxConnectSpeed(v) => json!(v),
        AvpValue::Raw(r) => json!(hex::encode(&r.value)),
        AvpValue::Malformed { value, error, .. } => {
            json!({"malformed": error.to_string(), "bytes": hex::encode(value)})
        }
    }
}

fn control_json(frame: u64, encap: Encapsulation, m: &ControlMessage) -> Value {
    let avps: Vec<Value> = m
        .avps
        .iter()
        .map(|a| {
            let (vendor_id, attr_type) = a.value.wire_type();
            let name = match &a.value {
                // A hidden AVP of a known type keeps its name; its value is hidden bytes.
                AvpValue::Raw(r) if r.vendor_id == 0 => {
                    AvpType::from_number(r.attr_type).map_or("unknown", AvpType::name)
                }
                AvpValue::Raw(_) => "vendor-specific",
                v => v.avp_type().map_or("unknown", AvpType::name),
            };
            json!({
                "type": attr_type,
                "vendor_id": vendor_id,
                "name": name,
                "m": a.mandatory,
                "h": a.value.is_hidden(),
                "value": avp_value(&a.value),
            })
        })
        .collect();
    let message_type = match (m.is_zlb(), m.message_type()) {
        (true, _) => "ZLB".to_string(),
        (false, Some(t)) => t.name().to_string(),
        (false, None) => "none".to_string(),
    };
    json!({
        "frame": frame,
        "kind": "control",
        "encapsulation": encap_name(encap),
        "message_type": message_type,
        "ccid": m.header.ccid,
        "ns": m.header.ns,
        "nr": m.header.nr,
        "length": m.len(),
        "valid": l2tpv3::validate(m).map_or_else(|e| e.to_string(), |()| "ok".to_string()),
        "avps": avps,
    })
}

fn encap_name(e: Encapsulation) -> &'static str {
    match e {
        Encapsulation::Udp => "udp",
        Encapsulation::Ip => "ip",
    }
}

fn main() -> ExitCode {
    let args: Args = clap::Parser::parse();
    let cookie_len =
        CookieLen::from_bytes(usize::from(args.cookie_len)).expect("checked by the parser");
    let sublayer = if args.sublayer {
        SublayerKind::Default
    } else {
        SublayerKind::None
    };
    let file = args.file;

    let mut failures = 0;
    let mut stdout = std::io::stdout().lock();
    let mut closed = false;
    let result = frames::for_each_frame(&file, |frame| {
        if closed {
            return;
        }
        let Some(l2tp) = frames::l2tp_in_frame(frame.link, &frame.data) else {
            return;
        };
        let config = SessionConfig {
            encapsulation: l2tp.encapsulation,
            cookie_len,
            sublayer,
        };
        let out = match Packet::decode(l2tp.payload, &config) {
            Ok(Packet::Control(m)) => control_json(frame.number, l2tp.encapsulation, &m),
            Ok(Packet::Data(d)) => json!({
                "frame": frame.number,
                "kind": "data",
                "encapsulation": encap_name(l2tp.encapsulation),
                "session_id": d.header.session_id,
                "cookie": if d.header.cookie.is_empty() { Value::Null } else { json!(hex::encode(d.header.cookie.as_bytes())) },
                "sublayer": d.header.sublayer.map(|s| json!({"s": s.sequenced, "sequence": s.sequence})),
                "payload_len": d.payload.len(),
            }),
            Err(e) => {
                failures += 1;
                json!({
                    "frame": frame.number,
                    "encapsulation": encap_name(l2tp.encapsulation),
                    "error": e.to_string(),
                })
            }
        };
        // Stop quietly when the reader goes away (`| head`).
        closed = writeln!(stdout, "{out}").is_err();
    });
    if let Err(e) = result {
        eprintln!("{}: {e}", file.display());
        return ExitCode::from(2);
    }
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
