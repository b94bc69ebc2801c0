#!/usr/bin/env python3
"""Tabulate the esp bench: GB/s of ESP seal+open and of the bare primitive, and the ratio.

usage: bench_ratio.py CRITERION_DIR   (e.g. $CARGO_TARGET_DIR/criterion)
"""
import json, os, sys

root = sys.argv[1]
LEN = 1400
rows = []
for group in sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    if group == "report" or not os.path.isdir(gdir):
        continue
    def mean_ns(name):
        p = os.path.join(gdir, name, "new", "estimates.json")
        if not os.path.exists(p):
            return None
        return json.load(open(p))["mean"]["point_estimate"]
    esp, prim = mean_ns("esp_seal_open"), mean_ns("primitive")
    if esp is None or prim is None:
        continue
    # Criterion groups are named "<suite>_<backend>" on disk ("/" becomes "_").
    rows.append((group, LEN / esp, LEN / prim, esp / prim))
print(f"{'suite/backend':32} {'ESP GB/s':>9} {'prim GB/s':>9} {'ratio':>6}")
for g, e, p, r in rows:
    print(f"{g:32} {e:9.3f} {p:9.3f} {r:6.3f}")
