#!/usr/bin/env python3
"""The benchmark users write by hand: time onnxruntime's InferenceSession.run in a Python loop.

Usage: python_loop.py MODEL DATA.npz THREADS BATCH WARMUP ITERATIONS
Prints one JSON line with the p50/p95/p99 (nearest rank, ms) of the measured calls.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

model, data, threads, batch, warmup, iterations = sys.argv[1:7]
threads, batch, warmup, iterations = int(threads), int(batch), int(warmup), int(iterations)

so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
arrays = np.load(data)
feed = {}
for i in sess.get_inputs():
    feed[i.name] = arrays[i.name][:batch]

for _ in range(warmup):
    sess.run(None, feed)
lat = []
for _ in range(iterations):
    t0 = time.perf_counter()
    sess.run(None, feed)
    lat.append(time.perf_counter() - t0)

lat.sort()
rank = lambda q: lat[max(0, min(len(lat) - 1, int(np.ceil(q * len(lat))) - 1))] * 1e3
print(json.dumps({"p50_ms": rank(0.5), "p95_ms": rank(0.95), "p99_ms": rank(0.99), "n": len(lat)}))
