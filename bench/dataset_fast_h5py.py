"""h5py side of `npm run bench dataset` (fast read path part): the same files, the same work.

Usage: dataset_fast_h5py.py ROOT ROWS_JSON
Prints one JSON line: wall and CPU seconds for sequential 256-row slices of image_array (files in
manifest order), get(i) of every column of single rows with files and datasets opened once, and
1000 random rows of every column (per file, sorted fancy indexing). Timed with perf_counter and
process_time after imports, untimed warm-up first.
"""
import json
import sys
import time

import h5py
import numpy as np

root, rows_json = sys.argv[1], sys.argv[2]
with open(root + "/astropile.json") as fh:
    manifest = json.load(fh)
files = [root + "/" + f["path"] for f in manifest["files"]]
with open(rows_json) as fh:
    spec = json.load(fh)
handles = [h5py.File(p, "r") for p in files]
starts = np.cumsum([0] + [h["ra"].shape[0] for h in handles])
cols = [list(h.keys()) for h in handles]
dsets = [{c: h[c] for c in cs} for h, cs in zip(handles, cols)]


def locate(i):
    k = int(np.searchsorted(starts, i, side="right") - 1)
    return k, int(i - starts[k])


def sequential():
    n = 0
    for d in dsets:
        ds = d["image_array"]
        rows = ds.shape[0]
        for s in range(0, rows, 256):
            n += ds[s:s + 256].shape[0]
    return n


def get_rows(ids):
    for i in ids:
        k, r = locate(i)
        {c: ds[r] for c, ds in dsets[k].items()}


def take(ids):
    by_file = {}
    for j, i in enumerate(ids):
        k, r = locate(i)
        by_file.setdefault(k, []).append(r)
    for k, rs in by_file.items():
        rs = sorted(set(rs))
        {c: ds[rs] for c, ds in dsets[k].items()}


def timed(fn, *args):
    fn(*args)  # warm
    best = None
    for _ in range(spec["repeat"]):
        w, c = time.perf_counter(), time.process_time()
        fn(*args)
        got = (time.perf_counter() - w, time.process_time() - c)
        best = got if best is None or got[0] < best[0] else best
    return {"wall": best[0], "cpu": best[1]}


out = {
    "sequential": timed(sequential),
    "get": timed(get_rows, spec["get"]),
    "take": timed(take, spec["take"]),
    "rows": int(starts[-1]),
}
print(json.dumps(out))
