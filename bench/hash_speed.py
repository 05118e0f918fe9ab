"""Whole-file hash speed for the index's file records, side by side on one file (warm page cache).

    python bench/hash_speed.py [PATH] [--size-mb 1024]

Writes PATH (default /tmp/poetry-search-hash-bench.bin) with random bytes if it does not exist,
reads it once to warm the page cache, then prints MB/s for each hash, best of three, with plain
reading as the ceiling. Needs xxhash and blake3 installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time


class _Nothing:
    def update(self, _):
        pass

    def hexdigest(self):
        return ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", default="/tmp/poetry-search-hash-bench.bin")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--chunk-mb", type=int, default=4)
    args = ap.parse_args()
    import blake3
    import xxhash

    if not os.path.exists(args.path):
        with open(args.path, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
    size = os.path.getsize(args.path)
    chunk = args.chunk_mb << 20

    def chunked(h):
        buf = bytearray(chunk)
        view = memoryview(buf)
        with open(args.path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        return h.hexdigest()

    cases = {
        "xxh3_128": lambda: chunked(xxhash.xxh3_128()),
        "xxh3_64": lambda: chunked(xxhash.xxh3_64()),
        "blake3 (1 thread)": lambda: chunked(blake3.blake3()),
        "blake3 (all threads)": lambda: chunked(blake3.blake3(max_threads=blake3.blake3.AUTO)),
        "blake3 update_mmap (all threads)": lambda: blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(args.path).hexdigest(),
        "hashlib.blake2b": lambda: chunked(hashlib.blake2b()),
        "hashlib.sha256": lambda: chunked(hashlib.sha256()),
        "read only (ceiling)": lambda: chunked(_Nothing()),
    }
    chunked(_Nothing())
    print(f"{size / 1e6:,.0f} MB, {os.cpu_count()} CPUs, {args.chunk_mb} MiB reads, best of 3")
    for name, fn in cases.items():
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        print(f"{name:34s} {size / best / 1e6:8,.0f} MB/s  ({best:.2f} s)")


if __name__ == "__main__":
    main()
