//! Security helpers of the node: secrets that never print, the filter between the
//! routes OSPFv3 learns and the kernel, RFC 7166 authentication settings of the
//! pseudowire interfaces, key files, and escaping of text a peer sends.
//!
//! See `SECURITY.md` (threat model and defaults).

use std::fmt;
use std::net::Ipv6Addr;
use std::path::Path;

use ospfv3::Ipv6Prefix;
use zeroize::Zeroizing;

/// Key material or a shared secret: zeroized on drop, `Debug` prints `<redacted>`,
/// compared in constant time. Deserializes from a TOML string (its UTF-8 bytes).
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps `bytes` (moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for Secret {
    fn from(b: &[u8]) -> Self {
        Secret::new(b.to_vec())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for Secret {}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The String is moved into the secret, so no unzeroized copy stays behind.
        let s = String::deserialize(d)?;
        Ok(Secret::new(s.into_bytes()))
    }
}

impl serde::Serialize for Secret {
    /// Serializes as `"<redacted>"`: a secret is never written back out.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Most bytes of peer-supplied text (a Host Name AVP) put into a log line.
pub const MAX_LOGGED_PEER_TEXT: usize = 64;

/// Text a peer sent (for example its L2TPv3 Host Name), made safe for one log line:
/// at most [`MAX_LOGGED_PEER_TEXT`] bytes, invalid UTF-8 replaced, control
/// characters, quotes and non-ASCII escaped (`escape_debug`), `...` when cut.
pub fn escape_peer_text(bytes: &[u8]) -> String {
    let cut = bytes.len() > MAX_LOGGED_PEER_TEXT;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LOGGED_PEER_TEXT)]);
    let mut out: String = text
        .chars()
        .flat_map(|c| {
            let ascii_printable = c.is_ascii_graphic() || c == ' ';
            let escaped: Vec<char> = if ascii_printable && c != '\\' && c != '"' {
                vec![c]
            } else {
                c.escape_default().collect()
            };
            escaped
        })
        .collect();
    if cut {
        out.push_str("...");
    }
    out
}

/// RFC 7166 authentication of the OSPFv3 pseudowire interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OspfAuth {
    /// Security Association ID (both ends must agree).
    pub sa_id: u16,
    /// The key (HMAC-SHA-256, RFC 7166 4.1), separate from the L2TPv3 secret.
    pub key: Secret,
    /// High half of the sending sequence number to resume from (RFC 7166 4.1.1):
    /// `None` starts at 0 (the lab); the daemon passes the start time in seconds
    /// since the Unix epoch, which grows from one run to the next without a state
    /// file.
    pub seq_high: Option<u32>,
}

impl OspfAuth {
    /// The ospfv3 interface setting; `frr_compat` selects FRRouting 8.4's key
    /// derivation (see [`ospfv3::AuthConfig::frr_compat_key`]).
    pub fn interface_auth(&self, frr_compat: bool) -> ospfv3::AuthConfig {
        let mut a = ospfv3::AuthConfig::new(
            self.sa_id,
            ospfv3::auth::HmacAlgorithm::Sha256,
            self.key.expose().to_vec(),
        );
        a.stored_seq_high = self.seq_high;
        a.frr_compat_key = frr_compat;
        a
    }
}

/// Default cap of the routes the node installs ([`RouteFilter::max_routes`]).
pub const DEFAULT_MAX_ROUTES: usize = 10_000;

/// What may go from OSPFv3 into the kernel's routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFilter {
    /// A learned route is installed only when its prefix lies within one of these
    /// (equal or more specific). Default: `2000::/3` and `fc00::/7` (global unicast
    /// and unique local), so neither `::/0` nor link-local or multicast prefixes.
    pub allow: Vec<Ipv6Prefix>,
    /// Install a default route (`::/0`) when one is learned and the allow-list
    /// covers it (default false).
    pub allow_default: bool,
    /// Never install a prefix that covers one of these (the node's underlay and host
    /// addresses; the core adds its loopback addresses itself).
    pub protected: Vec<Ipv6Addr>,
    /// Most routes installed at once; beyond it routes are refused and counted
    /// (default [`DEFAULT_MAX_ROUTES`]).
    pub max_routes: usize,
}

impl Default for RouteFilter {
    fn default() -> Self {
        RouteFilter {
            allow: vec![
                Ipv6Prefix::new(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3),
                Ipv6Prefix::new(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
            ],
            allow_default: false,
            protected: Vec::new(),
            max_routes: DEFAULT_MAX_ROUTES,
        }
    }
}

/// Why a learned route was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteRefusal {
    /// The default route, without `allow_default`.
    #[error("default route not allowed")]
    Default,
    /// Outside the allow-list.
    #[error("outside the allow-list")]
    NotAllowed,
    /// It covers one of the node's own or underlay addresses.
    #[error("covers a protected address")]
    CoversProtected,
    /// [`RouteFilter::max_routes`] routes are installed.
    #[error("route limit reached")]
    Limit,
}

fn contains(outer: Ipv6Prefix, inner: Ipv6Prefix) -> bool {
    outer.len <= inner.len && Ipv6Prefix::new(inner.addr, outer.len) == outer
}

fn covers_addr(p: Ipv6Prefix, a: Ipv6Addr) -> bool {
    contains(p, Ipv6Prefix::new(a, 128))
}

impl RouteFilter {
    /// Whether `prefix` may be installed, given the node's own addresses `own`
    /// (the count limit is checked by the caller, which knows what is installed).
    pub fn check(&self, prefix: Ipv6Prefix, own: &[Ipv6Addr]) -> Result<(), RouteRefusal> {
        if prefix.len == 0 && !self.allow_default {
            return Err(RouteRefusal::Default);
        }
        if !self.allow.iter().any(|a| contains(*a, prefix)) {
            return Err(RouteRefusal::NotAllowed);
        }
        if self
            .protected
            .iter()
            .chain(own)
            .any(|a| covers_addr(prefix, *a))
        {
            return Err(RouteRefusal::CoversProtected);
        }
        Ok(())
    }
}

/// Why a key file or configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Group or others may read it.
    #[error(
        "{path} holds secrets and is readable by group or others (mode {mode:o}): chmod 600 it"
    )]
    Readable {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

/// Refuses a file holding secrets that group or others may read.
pub fn check_private(path: &Path) -> Result<(), FileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| FileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(FileError::Readable {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Largest key file read ([`read_key_file`]).
pub const MAX_KEY_FILE: u64 = 4096;

/// Reads a key file: it must not be readable by group or others, nor larger than
/// [`MAX_KEY_FILE`]; one trailing newline (or `\r\n`) is removed.
pub fn read_key_file(path: &Path) -> Result<Secret, FileError> {
    use std::io::Read;
    check_private(path)?;
    let err = |source| FileError::Read {
        path: path.display().to_string(),
        source,
    };
    // Reserved up front: no reallocation leaves a copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize + 1));
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes))
        .map_err(err)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(err(std::io::Error::other(format!(
            "larger than {MAX_KEY_FILE} bytes"
        ))));
    }
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
        if bytes[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    Ok(Secret::from(&bytes[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv6Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Ipv6Prefix::new(a.parse().unwrap(), l.parse().unwrap())
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s, Secret::from("hunter2"));
        assert_ne!(s, Secret::from("hunter3"));
    }

    #[test]
    fn peer_text_is_escaped_and_capped() {
        assert_eq!(escape_peer_text(b"east"), "east");
        let nasty = escape_peer_text(b"a\nFAKE LOG LINE\x1b[31m\"");
        assert!(!nasty.contains('\n') && !nasty.contains('\x1b'), "{nasty}");
        assert!(nasty.contains("\\n"));
        let long = escape_peer_text(&[b'x'; 1000]);
        assert_eq!(long.len(), MAX_LOGGED_PEER_TEXT + 3);
    }

    #[test]
    fn route_filter_defaults() {
        let f = RouteFilter::default();
        let own = ["2001:db8:1::1".parse().unwrap()];
        assert_eq!(f.check(p("::/0"), &own), Err(RouteRefusal::Default));
        assert_eq!(
            f.check(p("2000::/3"), &own),
            Err(RouteRefusal::CoversProtected)
        );
        assert_eq!(
            f.check(p("2001:db8::/32"), &own),
            Err(RouteRefusal::CoversProtected)
        );
        assert_eq!(f.check(p("2001:db8:2::1/128"), &own), Ok(()));
        assert_eq!(f.check(p("fe80::/64"), &own), Err(RouteRefusal::NotAllowed));
        assert_eq!(f.check(p("ff02::/16"), &own), Err(RouteRefusal::NotAllowed));
        let any = RouteFilter {
            allow: vec![p("::/0")],
            allow_default: true,
            ..RouteFilter::default()
        };
        assert_eq!(any.check(p("::/0"), &[]), Ok(()));
    }

    #[test]
    fn key_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ha-node-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("key");
        std::fs::write(&f, "s3cret\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key_file(&f).unwrap_err();
        assert!(matches!(e, FileError::Readable { .. }), "{e}");
        assert!(!e.to_string().contains("s3cret"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_key_file(&f).unwrap(), Secret::from("s3cret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
