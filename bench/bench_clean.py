"""Benchmark: the cleaning side of a contacts import (what one worker process does per block).

Generates the same synthetic CSV as ``bench_import.py`` (10 columns, ~5% invalid numbers, ~10%
duplicates), cuts it into the blocks the import hands its workers, and runs the worker task on
each block in this process: parse the CSV, map the columns, clean the rows, pack the result.
Reports CPU µs per row (time.process_time, far steadier than wall time on a busy machine).

    .venv/bin/python bench/bench_clean.py                 # 200,000 rows
    .venv/bin/python bench/bench_clean.py --tiny          # 5,000 rows, seconds
    .venv/bin/python bench/bench_clean.py --rows 100000 --profile   # + cProfile, top 25
    .venv/bin/python bench/bench_clean.py --save ref.bin  # keep the packed output ...
    .venv/bin/python bench/bench_clean.py --check ref.bin # ... and check a later run equals it
    .venv/bin/python bench/bench_clean.py --stages        # + CPU of parsing, cleaning, packing

Each block starts with cold per-process caches only once (the first block); a real import's
worker cleans about half the blocks of the file with the caches it built on earlier ones.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench_import import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="5,000 rows: a smoke run")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--file", type=Path, default=None, help="reuse a generated CSV")
    ap.add_argument("--block-rows", type=int, default=None, help="rows per block (import's)")
    ap.add_argument("--profile", action="store_true", help="print the cProfile top 25")
    ap.add_argument("--save", type=Path, default=None, help="write the packed output here")
    ap.add_argument("--repeat", type=int, default=1, help="passes (cold caches); best kept")
    ap.add_argument("--check", type=Path, default=None, help="compare with a --save output")
    ap.add_argument("--stages", action="store_true", help="CPU of each step of the task too")
    args = ap.parse_args()

    from clarion.contacts import phones
    from clarion.gcpolicy import fewer_collections
    from clarion.imports.contacts import CODEC, ContactsConfig, clean_contacts
    from clarion.imports.pipeline import CHUNK_ROWS, _clean_block
    from clarion.imports.readers import Source, block_rows

    rows = args.rows or (5_000 if args.tiny else 200_000)
    path = args.file
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="clarion-bench-clean-")) / f"contacts-{rows}.csv"
        generate(path, rows)
    blocks = list(Source(path).csv_blocks(args.block_rows or CHUNK_ROWS))
    config = ContactsConfig((), "US")

    def clean(chunk: list) -> object:  # type: ignore[type-arg]
        return clean_contacts(chunk, config)

    profiler = cProfile.Profile() if args.profile else None
    cpu = float("inf")
    for _ in range(max(args.repeat, 1)):
        phones.clear_caches()
        outputs: list[bytes] = []
        n_rows = 0
        t0 = time.process_time()
        # The import's workers are forked inside this (rarer garbage collection), so is this.
        with fewer_collections():
            if profiler is not None:
                profiler.enable()
            for block in blocks:
                n, packed = _clean_block(clean, CODEC.pack, block)
                n_rows += n
                outputs.append(packed)
            if profiler is not None:
                profiler.disable()
            cpu = min(cpu, time.process_time() - t0)
    accepted = rejected = 0
    with fewer_collections():
        t0 = time.process_time()
        for packed in outputs:
            cleaned = CODEC.unpack(packed)
            accepted += len(cleaned.accepted)
            rejected += len(cleaned.rejects)
        unpack = time.process_time() - t0
    digest = hashlib.sha256(b"".join(outputs)).hexdigest()[:16]
    print(
        f"cleaned {n_rows:,} rows in {len(blocks)} blocks: {cpu:.2f} s CPU = "
        f"{cpu / max(n_rows, 1) * 1e6:.1f} µs/row; accepted {accepted:,}, rejects {rejected:,}; "
        f"unpack (main process) {unpack / max(n_rows, 1) * 1e6:.1f} µs/row; "
        f"output sha256 {digest}; load average {os.getloadavg()[0]:.1f}"
    )
    if args.stages:
        # The worker task's steps one by one (what _clean_block does), best of the passes.
        best = [float("inf")] * 3
        for _ in range(max(args.repeat, 1)):
            phones.clear_caches()
            spent = [0.0] * 3
            with fewer_collections():
                for block in blocks:
                    t0 = time.process_time()
                    chunk = list(block_rows(block))
                    t1 = time.process_time()
                    cleaned = clean(chunk)
                    t2 = time.process_time()
                    CODEC.pack(cleaned)  # type: ignore[arg-type]
                    del chunk, cleaned  # freeing the chunk is part of the task
                    t3 = time.process_time()
                    spent = [spent[0] + t1 - t0, spent[1] + t2 - t1, spent[2] + t3 - t2]
            best = [min(b, s) for b, s in zip(best, spent, strict=True)]
        per_row = [b / max(n_rows, 1) * 1e6 for b in best]
        print(
            f"stages: parse {per_row[0]:.1f}, clean {per_row[1]:.1f}, pack and free "
            f"{per_row[2]:.1f} µs/row; load average {os.getloadavg()[0]:.1f}"
        )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    if args.save is not None:
        args.save.write_bytes(b"".join(len(p).to_bytes(8, "big") + p for p in outputs))
    if args.check is not None:
        data, got, at = args.check.read_bytes(), [], 0
        while at < len(data):
            size = int.from_bytes(data[at : at + 8], "big")
            got.append(data[at + 8 : at + 8 + size])
            at += 8 + size
        if len(got) != len(outputs):
            sys.exit(f"check failed: {len(got)} blocks saved, {len(outputs)} now")
        for i, (want, have) in enumerate(zip(got, outputs, strict=True)):
            if repr(CODEC.unpack(want)) != repr(CODEC.unpack(have)):  # dict order too
                sys.exit(f"check failed: block {i} differs")
        print(f"check: the same output as {args.check}")


if __name__ == "__main__":
    main()
