#!/usr/bin/python3
"""Runs hnswlib (Debian's python3-hnswlib 0.6.2) on the same .fvecs files as `hyprstream bench index`.

    ./hyprstream bench index --write-data /tmp/ann            # writes clustered_base.fvecs / clustered_query.fvecs
    /usr/bin/python3 src/Hyprstream.Bench/hnswlib_compare.py /tmp/ann/clustered_base.fvecs /tmp/ann/clustered_query.fvecs
    ./hyprstream bench index --base /tmp/ann/clustered_base.fvecs --query /tmp/ann/clustered_query.fvecs

Prints build time and, per ef, recall@10 against brute force (numpy) and single-thread QPS.
"""
import argparse
import time

import hnswlib
import numpy as np


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("query")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,20,40,80,160")
    ap.add_argument("-k", type=int, default=10)
    a = ap.parse_args()
    base, queries = read_fvecs(a.base), read_fvecs(a.query)
    n, dim = base.shape

    truth = []
    for chunk in np.array_split(queries, max(1, len(queries) // 100)):
        d = (chunk * chunk).sum(1)[:, None] - 2 * chunk @ base.T + (base * base).sum(1)[None, :]
        truth.extend(np.argsort(d, axis=1)[:, : a.k])

    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=n, M=a.M, ef_construction=a.ef_construction, random_seed=42)
    index.set_num_threads(1)
    t = time.perf_counter()
    index.add_items(base, np.arange(n))
    build = time.perf_counter() - t
    print(f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else '0.6.2'}: {n} x {dim}, M={a.M} efC={a.ef_construction}, build {build:.1f} s (1 thread)")
    print("ef\trecall@10\tQPS 1 thread")
    for ef in [int(x) for x in a.ef.split(",")]:
        index.set_ef(ef)
        t = time.perf_counter()
        found = [index.knn_query(q, k=a.k)[0][0] for q in queries]  # one query per call, as a router would
        qps = len(queries) / (time.perf_counter() - t)
        hit = sum(len(set(f) & set(tr)) for f, tr in zip(found, truth))
        print(f"{ef}\t{hit / (len(queries) * a.k):.3f}\t{qps:.0f}")


if __name__ == "__main__":
    main()
