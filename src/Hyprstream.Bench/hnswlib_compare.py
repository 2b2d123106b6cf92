#!/usr/bin/python3
"""hnswlib (Debian's python3-hnswlib 0.6.2) on the same files as `hyprstream bench index`, driven by it.

`hyprstream bench index` writes its data as .fvecs (base, queries) and .ivecs (the brute-force top 10), starts this
script, and interleaves: for each ef it times its own searches, then asks this script for hnswlib's on the same
queries, so both see the same machine load. Protocol: after building, one JSON line with the build times and
memory; then per input line "ef N" one JSON line with recall@10 and QPS (1 thread: whole batch in one call, and one
call per query; all threads: whole batch); "quit" ends.

Standalone (prints the same numbers as a table):
    /usr/bin/python3 src/Hyprstream.Bench/hnswlib_compare.py base.fvecs query.fvecs truth.ivecs --space l2
"""
import argparse
import json
import os
import sys
import tempfile
import time

import hnswlib
import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


def build(base, space, m, efc, threads):
    index = hnswlib.Index(space=space, dim=base.shape[1])
    index.init_index(max_elements=len(base), M=m, ef_construction=efc, random_seed=42)
    index.set_num_threads(threads)
    t = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    return index, time.perf_counter() - t


def measure(index, queries, truth, ef, k):
    index.set_ef(ef)
    index.set_num_threads(1)
    t = time.perf_counter()
    labels, _ = index.knn_query(queries, k=k)
    batch = len(queries) / (time.perf_counter() - t)
    t = time.perf_counter()
    for q in queries:
        index.knn_query(q, k=k)
    per_query = len(queries) / (time.perf_counter() - t)
    index.set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    index.knn_query(queries, k=k)
    all_threads = len(queries) / (time.perf_counter() - t)
    hit = sum(len(set(f) & set(tr[:k])) for f, tr in zip(labels, truth))
    return {"ef": ef, "recall": hit / (len(queries) * k), "qps_batch": batch, "qps_query": per_query, "qps_all": all_threads}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("query")
    ap.add_argument("truth")
    ap.add_argument("--space", default="l2", choices=["l2", "cosine", "ip"])
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,20,40,80,160", help="standalone: the ef values")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--serve", action="store_true", help="read 'ef N' lines from stdin, answer JSON lines")
    a = ap.parse_args()
    base, queries = read_vecs(a.base, np.float32), read_vecs(a.query, np.float32)
    truth = read_vecs(a.truth, np.int32)
    index, build1 = build(base, a.space, a.M, a.ef_construction, 1)
    _, build_all = build(base, a.space, a.M, a.ef_construction, os.cpu_count() or 1)
    with tempfile.NamedTemporaryFile(suffix=".hnsw") as f:
        index.save_index(f.name)
        memory = os.path.getsize(f.name)
    head = {"version": "0.6.2", "build_s": build1, "build_all_s": build_all, "threads": os.cpu_count(), "memory_bytes": memory}
    if not a.serve:
        print(f"hnswlib: {len(base)} x {base.shape[1]} {a.space}, M={a.M} efC={a.ef_construction}: build {build1:.1f} s (1 thread), "
              f"{build_all:.1f} s ({os.cpu_count()} threads), {memory / 1e6:.1f} MB")
        print("ef\trecall@10\tQPS batch\tQPS per query\tQPS all threads")
        for ef in [int(x) for x in a.ef.split(",")]:
            r = measure(index, queries, truth, ef, a.k)
            print(f"{ef}\t{r['recall']:.3f}\t{r['qps_batch']:.0f}\t{r['qps_query']:.0f}\t{r['qps_all']:.0f}")
        return
    print(json.dumps(head), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        print(json.dumps(measure(index, queries, truth, int(words[1]), a.k)), flush=True)


if __name__ == "__main__":
    main()
