#!/usr/bin/env bash
# A crate outside the workspace, as a downstream user writes it: it depends on the
# library crates by path, and its programs are the first ```rust block of each
# library's README (which use only the crates' root re-exports). They must build and
# run to completion (each one drives a pair of state machines and asserts the outcome).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/downstream.XXXXXX)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/examples"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "downstream"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
l2tpv3 = { path = "$root/l2tpv3" }
ospfv3 = { path = "$root/ospfv3" }
ipsec-lite = { path = "$root/ipsec-lite" }
anycast-failover = { path = "$root/failover" }
netsim = { package = "anycast-netsim", path = "$root/netsim" }
bfd = { path = "$root/bfd" }
ikev2 = { path = "$root/ikev2" }
rand_chacha = "0.10"
rand = "0.10"

[workspace]
TOML
mkdir -p "$work/src" && echo '' > "$work/src/lib.rs"

# the first ```rust block of a README, verbatim
first_rust_block() {
  awk 'BEGIN{inb=0} /^```rust/{ if (!done) {inb=1; next} } /^```/{ if (inb) {inb=0; done=1} } inb{print}' "$1"
}

examples=()
for pair in l2tpv3:l2tpv3 ospfv3:ospfv3 ipsec-lite:ipsec_lite failover:failover netsim:netsim bfd:bfd ikev2:ikev2; do
  dir="${pair%%:*}"; name="${pair##*:}"
  readme="$root/$dir/README.md"
  first_rust_block "$readme" > "$work/examples/$name.rs"
  if ! grep -q 'fn main' "$work/examples/$name.rs"; then
    echo "FAIL: $dir/README.md: its first \`\`\`rust block is not a complete program (no fn main)"
    exit 1
  fi
  examples+=("$name")
done

# reuse the workspace's resolved versions and build cache
cp "$root/Cargo.lock" "$work/Cargo.lock"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cd "$work"
for ex in "${examples[@]}"; do
  echo "-- downstream example $ex (from its README)"
  cargo run --quiet --example "$ex"
done
echo "downstream crate: ${#examples[@]} README programs built and ran against the root re-exports"
