#!/usr/bin/env bash
# strongSwan (charon 5.9.8) in network namespaces, for interop tests of the ikev2 crate.
#
# Source it for the functions, or run it for a self-test:
#
#   ikev2/scripts/strongswan_lab.sh demo [OUTDIR]
#
# The demo joins two namespaces with a veth pair (IPv4 192.0.2.1/.2 and IPv6
# 2001:db8:ike::1/::2), starts one charon in each (kernel-libipsec: ESP in user space on
# the TUN device ipsec0, always ESP-in-UDP 4500), and for each proposal set
#   gcm: IKE aes128gcm16-prfsha256-x25519,  ESP aes128gcm16
#   cbc: IKE aes128-sha256-ecp256,          ESP aes128-sha256
# establishes an IKE SA and a tunnel-mode CHILD SA (10.10.1.1/32 === 10.10.2.1/32) with
# PSK authentication, pings through the tunnel, rekeys CHILD and IKE SA, and captures
# everything with tshark. OUTDIR (default: a fresh directory under /tmp) keeps the
# captures, charon's level-4 logs (they contain the IKE and ESP keys) and
# `ikev2-decryption-table` / `esp-sa-table` lines that let tshark decrypt the capture.
#
# Functions (all take a lab directory DIR that holds one charon's files):
#   swlab_ns_pair NS_A NS_B IF_A IF_B V4_A V4_B [V6_A V6_B]   netns + veth (/24, /64)
#   swlab_conf DIR [EXTRA_CHARON_SETTINGS]     write DIR/strongswan.conf
#   swlab_start NS DIR                          start charon in NS (pid in DIR/charon.pid)
#   swlab_stop DIR                              stop it (by that pid only)
#   swlab_ctl DIR SWANCTL_ARGS...               swanctl against that charon's vici socket
#   swlab_load DIR SWANCTL_CONF                 load connections and secrets from a file
#   swlab_wait_sa DIR CHILD [SECONDS]           wait until CHILD is INSTALLED
#   swlab_keys DIR                              print IKE and ESP keys from the log
#   swlab_prereq                                print why the lab cannot run (empty = ok)
set -euo pipefail

SWLAB_CHARON=${SWLAB_CHARON:-/usr/lib/ipsec/charon}

swlab_prereq() {
  if [ "$(id -u)" != 0 ]; then echo "needs root"; return 0; fi
  [ -x "$SWLAB_CHARON" ] || { echo "strongswan-charon not installed ($SWLAB_CHARON)"; return 0; }
  command -v swanctl >/dev/null || { echo "strongswan-swanctl not installed"; return 0; }
  [ -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
    { echo "libcharon-extra-plugins (kernel-libipsec) not installed"; return 0; }
  [ -c /dev/net/tun ] || { echo "/dev/net/tun missing"; return 0; }
  command -v ip >/dev/null || { echo "iproute2 missing"; return 0; }
  if ! ip netns add swlab-probe-$$ 2>/dev/null; then echo "no netns support"; return 0; fi
  ip netns del swlab-probe-$$
}

# Install the Debian packages when they are missing and apt can do it.
swlab_install() {
  [ "$(id -u)" = 0 ] || return 0
  local need=()
  [ -x "$SWLAB_CHARON" ] || need+=(strongswan-charon)
  command -v swanctl >/dev/null || need+=(strongswan-swanctl)
  [ -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] || need+=(libcharon-extra-plugins)
  [ -f /usr/lib/ipsec/plugins/libstrongswan-curve25519.so ] || need+=(libstrongswan-extra-plugins)
  command -v tshark >/dev/null || need+=(tshark)
  command -v ping >/dev/null || need+=(iputils-ping)
  [ ${#need[@]} = 0 ] && return 0
  command -v apt-get >/dev/null || return 0
  echo "swlab: installing ${need[*]}" >&2
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1; }) || true
}

swlab_ns_pair() { # NS_A NS_B IF_A IF_B V4_A V4_B [V6_A V6_B]
  local a=$1 b=$2 ia=$3 ib=$4 v4a=$5 v4b=$6 v6a=${7:-} v6b=${8:-}
  for n in "$a" "$b"; do
    ip netns del "$n" 2>/dev/null || true
    ip netns add "$n"
    ip -n "$n" link set lo up
  done
  ip link add "$ia" netns "$a" type veth peer name "$ib" netns "$b"
  ip -n "$a" addr add "$v4a/24" dev "$ia"
  ip -n "$b" addr add "$v4b/24" dev "$ib"
  if [ -n "$v6a" ]; then
    ip -n "$a" addr add "$v6a/64" dev "$ia" nodad
    ip -n "$b" addr add "$v6b/64" dev "$ib" nodad
  fi
  ip -n "$a" link set "$ia" up
  ip -n "$b" link set "$ib" up
}

swlab_conf() { # DIR [EXTRA]: strongswan.conf for one charon; logs keys at level 4
  local dir=$1 extra=${2:-}
  mkdir -p "$dir/run"
  cat >"$dir/strongswan.conf" <<EOF
charon {
  load_modular = no
  # kernel-libipsec first: the first IPsec backend wins; kernel-netlink for routes
  load = random nonce aes sha1 sha2 hmac gcm curve25519 gmp openssl pem pkcs1 pubkey x509 kdf kernel-libipsec kernel-netlink socket-default vici updown
  install_routes = yes
  retransmit_timeout = ${SWLAB_RETRANSMIT_TIMEOUT:-2.0}
  retransmit_tries = ${SWLAB_RETRANSMIT_TRIES:-4}
  filelog {
    main {
      path = $dir/charon.log
      time_format = %T
      append = no
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
      cfg = 2
      net = 2
      knl = 2
      enc = 2
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
  plugins {
    vici {
      socket = unix:///run/charon.vici
    }
  }
$extra
}
EOF
}

swlab_start() { # NS DIR
  local ns=$1 dir=$2 i
  [ -f "$dir/strongswan.conf" ] || swlab_conf "$dir"
  mkdir -p "$dir/run"
  rm -f "$dir/run/charon.vici" "$dir/run/charon.pid"
  # ip netns exec gives a private mount namespace: /run is this instance's own
  STRONGSWAN_CONF="$dir/strongswan.conf" ip netns exec "$ns" \
    sh -c "mount --bind '$dir/run' /run && exec '$SWLAB_CHARON'" \
    >"$dir/charon.stdout" 2>&1 &
  echo $! >"$dir/charon.pid"
  disown $! 2>/dev/null || true
  for i in $(seq 1 100); do
    [ -S "$dir/run/charon.vici" ] && return 0
    kill -0 "$(cat "$dir/charon.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "swlab: charon in $ns did not come up; see $dir/charon.log $dir/charon.stdout" >&2
  return 1
}

swlab_stop() { # DIR
  local dir=$1 pid i
  [ -f "$dir/charon.pid" ] || return 0
  pid=$(cat "$dir/charon.pid")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/charon.pid"
}

swlab_kill() { # DIR: SIGKILL (a crashed peer: no DELETE sent)
  local dir=$1
  [ -f "$dir/charon.pid" ] || return 0
  kill -9 "$(cat "$dir/charon.pid")" 2>/dev/null || true
  rm -f "$dir/charon.pid"
}

swlab_ctl() { # DIR ARGS...
  local dir=$1
  shift
  swanctl "$@" --uri "unix://$dir/run/charon.vici"
}

swlab_load() { # DIR FILE
  # swanctl warns about each missing credential directory beside FILE: not errors
  swlab_ctl "$1" --load-all --noprompt --file "$2" >"$1/swanctl-load.log" 2>&1 ||
    { cat "$1/swanctl-load.log" >&2; return 1; }
}

swlab_wait_sa() { # DIR CHILD [SECONDS]
  local dir=$1 child=$2 secs=${3:-10} i
  for i in $(seq 1 $((secs * 5))); do
    if swlab_ctl "$dir" --list-sas 2>/dev/null | grep -A100 -E "^[^ ]" |
      grep -qE "^  $child: #[0-9]+, reqid [0-9]+, INSTALLED"; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# tshark decryption tables from charon's level-4 log (it logs SK_* and CHILD SA keys)
# and from `swanctl --list-sas` snapshots taken while each IKE SA was up (they give the
# IKE SPIs, which the log does not print). Prints UAT lines:
#   ikev2_decryption_table: SPIi,SPIr,SK_ei,SK_er,"ENC",SK_ai,SK_ar,"INTEG"  (hex unquoted)
#   esp_sa: "IPv4|IPv6","SRC","DST","0xSPI","ENC","0xKEY","AUTH","0xKEY"
# Use as: tshark -o "uat:ikev2_decryption_table:LINE" -o "uat:esp_sa:LINE" ...
# (one -o per line; `swlab_tshark_opts FILE` prints them as arguments).
swlab_keys() { # DIR SNAPSHOT_FILES...
  python3 - "$@" <<'PY'
import re, sys
d, snaps = sys.argv[1], sys.argv[2:]
loc = rem = None
lines = open(d + "/charon.log", errors="replace").read().splitlines()
def body(l):
    return l.split("] ", 1)[-1] if "] " in l else l
def blob(i):
    out, j = "", i + 1
    while j < len(lines):
        m = re.match(r"^\s+\d+: ((?:[0-9A-F]{2} )+)", body(lines[j]))
        if not m:
            break
        out += m.group(1).replace(" ", "")
        j += 1
    return out.lower()
spis = {}   # IKE SA unique id -> (spii, spir)
for f in snaps:
    for l in open(f):
        m = re.match(r"^\S+: #(\d+), \w+, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r", l)
        if m:
            spis[int(m.group(1))] = (m.group(2), m.group(3))
ike_enc = {40: "AES-GCM-128 with 16 octet ICV [RFC5282]", 32: "AES-CBC-128 [RFC3602]"}
cur, child, out = {}, {}, []
for i, l in enumerate(lines):
    b = body(l)
    m = re.match(r"(Sk_\w+) secret =>", b)
    if m:
        cur[m.group(1).lower()] = blob(i)
    m = re.match(r"(encryption|integrity) (initiator|responder) key =>", b)
    if m:
        child[m.group(1)[0] + m.group(2)[0]] = blob(i)
    m = re.match(r"IKE_SA \S+\[(\d+)\] (established|rekeyed) between (.+)\[.*\]\.\.\.(.+)\[", b)
    if m:
        loc, rem = m.group(3), m.group(4)
    if m and "sk_ei" in cur:
        n = int(m.group(1))
        if n in spis:
            i_, r_ = spis[n]
            gcm = len(cur["sk_ei"]) == 40
            integ = "NONE [RFC4306]" if gcm else "HMAC_SHA2_256_128 [RFC4868]"
            enc = ike_enc.get(len(cur["sk_ei"]) + (0 if gcm else 0), "?")
            out.append('ikev2_decryption_table:%s,%s,%s,%s,"%s",%s,%s,"%s"' % (
                i_, r_, cur["sk_ei"], cur["sk_er"], enc,
                cur.get("sk_ai", ""), cur.get("sk_ar", ""), integ))
        cur = {}
    m = re.match(r"(?:(inbound) )?CHILD_SA \S+ established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o", b)
    if m and "ei" in child:
        # this side initiated the CHILD SA exchange unless the log says otherwise; the
        # demo's side A initiates every exchange, so "initiator" keys protect A -> B
        ours_in, ours_out = m.group(2), m.group(3)
        fam = "IPv6" if ":" in loc else "IPv4"
        gcm = "ii" not in child
        enc = "AES-GCM with 16 octet ICV [RFC4106]" if gcm else "AES-CBC [RFC3602]"
        auth = "NULL" if gcm else "HMAC-SHA-256-128 [RFC4868]"
        for spi, src, dst, ek, ak in ((ours_out, loc, rem, child["ei"], child.get("ii", "")),
                                      (ours_in, rem, loc, child["er"], child.get("ir", ""))):
            out.append('esp_sa:"%s","%s","%s","0x%s","%s","0x%s","%s","%s"' % (
                fam, src, dst, spi, enc, ek, auth, ("0x" + ak) if ak else ""))
        child = {}
for o in out:
    print(o)
PY
}

swlab_tshark_opts() { # UAT_FILE: print tshark -o arguments, one per line
  local l
  while IFS= read -r l; do
    [ -n "$l" ] && printf -- '-o\nuat:%s\n' "$l"
  done <"$1"
}

swlab_demo() { # [OUTDIR]
  local out=${1:-} why
  swlab_install
  why=$(swlab_prereq)
  if [ -n "$why" ]; then echo "SKIP strongswan_lab demo: $why"; return 0; fi
  [ -n "$out" ] || out=$(mktemp -d /tmp/swlab.XXXXXX)
  mkdir -p "$out"
  chmod 700 "$out"
  local A=swlab-a-$$ B=swlab-b-$$
  local da="$out/a" db="$out/b"
  mkdir -p "$da" "$db"
  trap "swlab_stop '$da'; swlab_stop '$db'; [ -f '$out/tshark.pid' ] && kill \$(cat '$out/tshark.pid') 2>/dev/null; ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; true" EXIT
  swlab_ns_pair "$A" "$B" ve-a ve-b 192.0.2.1 192.0.2.2 2001:db8:1::1 2001:db8:1::2
  ip -n "$A" addr add 10.10.1.1/32 dev lo
  ip -n "$B" addr add 10.10.2.1/32 dev lo
  ip netns exec "$A" tshark -q -i ve-a -w "$out/charon-charon.pcapng" -f "udp port 500 or udp port 4500" \
    >"$out/tshark.log" 2>&1 &
  echo $! >"$out/tshark.pid"
  for _ in $(seq 1 100); do grep -q "Capturing on" "$out/tshark.log" 2>/dev/null && break; sleep 0.1; done
  swlab_conf "$da"
  swlab_conf "$db"
  swlab_start "$A" "$da"
  swlab_start "$B" "$db"
  local psk=0sc3Ryb25nU3dhbi1pbnRlcm9wLXRlc3Qta2V5LTAx
  # B: responder for both proposal sets
  cat >"$db/swanctl.conf" <<EOF
connections {
  lab {
    version = 2
    local_addrs = 192.0.2.2, 2001:db8:1::2
    remote_addrs = 192.0.2.1, 2001:db8:1::1
    proposals = aes128gcm16-prfsha256-x25519, aes128-sha256-ecp256
    dpd_delay = 5s
    local { auth = psk
      id = b.lab.example }
    remote { auth = psk
      id = a.lab.example }
    children {
      lab { local_ts = 10.10.2.1/32
        remote_ts = 10.10.1.1/32
        esp_proposals = aes128gcm16-x25519, aes128-sha256-ecp256, aes128gcm16, aes128-sha256
        reqid = 7
        mode = tunnel }
    }
  }
}
secrets { ike-lab { id-a = a.lab.example
  id-b = b.lab.example
  secret = $psk } }
EOF
  swlab_load "$db" "$db/swanctl.conf"
  local suite ike esp addr ok=0
  for suite in gcm:192.0.2: cbc:2001:db8:1:: ; do
    case $suite in
      gcm*) ike=aes128gcm16-prfsha256-x25519; esp=aes128gcm16-x25519; addr=4 ;;
      cbc*) ike=aes128-sha256-ecp256; esp=aes128-sha256-ecp256; addr=6 ;;
    esac
    local la=192.0.2.1 ra=192.0.2.2
    [ $addr = 6 ] && { la=2001:db8:1::1; ra=2001:db8:1::2; }
    cat >"$da/swanctl.conf" <<EOF
connections {
  lab {
    version = 2
    local_addrs = $la
    remote_addrs = $ra
    proposals = $ike
    local { auth = psk
      id = a.lab.example }
    remote { auth = psk
      id = b.lab.example }
    children {
      lab { local_ts = 10.10.1.1/32
        remote_ts = 10.10.2.1/32
        esp_proposals = $esp
        reqid = 7
        mode = tunnel }
    }
  }
}
secrets { ike-lab { id-a = a.lab.example
  id-b = b.lab.example
  secret = $psk } }
EOF
    swlab_load "$da" "$da/swanctl.conf"
    swlab_ctl "$da" --initiate --child lab --timeout 15 >"$out/initiate-${suite%%:*}.log" 2>&1 ||
      { echo "FAIL: initiate ${suite%%:*}"; tail -30 "$da/charon.log"; return 1; }
    swlab_wait_sa "$da" lab 10 || { echo "FAIL: no CHILD SA (${suite%%:*})"; return 1; }
    swlab_ctl "$da" --list-sas >"$out/list-sas-a-${suite%%:*}.txt"
    swlab_ctl "$db" --list-sas >"$out/list-sas-b-${suite%%:*}.txt"
    if ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -I 10.10.1.1 10.10.2.1 >"$out/ping-${suite%%:*}.txt"; then
      echo "ok ${suite%%:*}: IKE $ike / ESP $esp over IPv$addr, ping through ipsec0 passes"
    else
      echo "FAIL ${suite%%:*}: ping through the tunnel"; cat "$out/ping-${suite%%:*}.txt"; return 1
    fi
    swlab_ctl "$da" --rekey --child lab >/dev/null
    sleep 1
    swlab_ctl "$da" --rekey --ike lab >/dev/null
    sleep 1
    swlab_ctl "$da" --list-sas >"$out/list-sas-a-${suite%%:*}-rekeyed.txt"
    ip netns exec "$A" ping -c 2 -i 0.2 -W 2 -I 10.10.1.1 10.10.2.1 >/dev/null ||
      { echo "FAIL ${suite%%:*}: ping after rekeys"; return 1; }
    echo "ok ${suite%%:*}: CHILD and IKE rekey, ping after"
    swlab_ctl "$da" --terminate --ike lab --timeout 5 >/dev/null || true
    sleep 0.5
    ok=$((ok + 1))
  done
  sleep 0.5
  kill "$(cat "$out/tshark.pid")" 2>/dev/null || true
  sleep 0.5
  rm -f "$out/tshark.pid"
  swlab_keys "$da" "$out"/list-sas-a-*.txt >"$out/tshark-keys.uat"
  echo "outputs in $out (capture charon-charon.pcapng, logs a/charon.log b/charon.log, tshark-keys.uat)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    demo) shift; swlab_demo "$@" ;;
    *) echo "usage: $0 demo [OUTDIR]   (or source it for the swlab_* functions)" >&2; exit 2 ;;
  esac
fi
