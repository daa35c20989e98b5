"""Benchmark the artifact store: commit throughput and catalog query latency.

Writes N synthetic rollout-shaped rows (nested chat prompt included) through ``Store`` in
shards, then queries them through the catalog. Each number is set against a baseline measured
in the same run on the same rows:

- commit: ``pyarrow.parquet.write_table`` of the same shards to plain files (same compression,
  no temp-file renames, manifest or catalog refresh);
- queries: DuckDB straight on a ``read_parquet`` glob of those plain files (no catalog, no view,
  no ``artifact`` column, no staleness check).

Run: ``.venv/bin/python bench/bench_store.py [--rows 1000000] [--shard-rows 100000]``
Writes under a temp dir (``--root`` to choose), deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage import Store, artifact_key
from storage.writer import COMPRESSION

MSG = pa.struct([("role", pa.string()), ("content", pa.string())])
QUERIES = {
    "GROUP BY model, turn (4 aggs)":
        "SELECT model, turn, count(*) AS n, avg(n_tokens) AS tok, sum(CAST(finish_reason = 'stop' "
        "AS INT)) AS stops, avg(temperature) AS t FROM {src} GROUP BY ALL",
    "GROUP BY model, max(len(completion))":
        "SELECT model, max(len(completion)) AS longest FROM {src} GROUP BY ALL",
    "GROUP BY problem_id (10k groups)":
        "SELECT problem_id, count(*) AS n, avg(temperature) AS t FROM {src} GROUP BY 1 "
        "ORDER BY n DESC LIMIT 10",
    "unnest prompt, count roles":
        "SELECT m.role, count(*) AS n FROM (SELECT unnest(prompt) AS m FROM {src}) GROUP BY 1",
}


def pool(rng: np.random.Generator, n: int, lo: int, hi: int, prefix: str) -> pa.Array:
    words = ["def", "return", "for", "in", "range", "if", "else", "print", "x", "y", "n", "+", "=="]
    return pa.array([prefix + " ".join(rng.choice(words, size=rng.integers(lo, hi)))
                     for _ in range(n)])


def make_shard(start: int, n: int, pools: dict[str, pa.Array], seed: int) -> pa.Table:
    """n rollout rows: rollout_id, problem_id, model, turn, sample_idx, prompt (2 messages),
    completion, code, finish_reason, n_tokens, temperature, seed."""
    rng = np.random.default_rng(seed)
    ids = np.arange(start, start + n)
    pick = lambda p: p.take(pa.array(rng.integers(0, len(p), size=n)))  # noqa: E731
    roles = pa.array(np.tile(["system", "user"], n))
    contents = pa.concat_arrays([pools["system"].take(pa.array(np.zeros(n, dtype=np.int64))),
                                 pick(pools["statement"])])
    order = np.stack([np.arange(n), np.arange(n) + n], axis=1).ravel()
    msgs = pa.StructArray.from_arrays([roles, contents.take(pa.array(order))], fields=list(MSG))
    prompt = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), msgs)
    return pa.table({
        "rollout_id": pa.array([f"r{i:08d}" for i in ids]),
        "problem_id": pa.array([f"apps/{i % 10000}" for i in ids]),
        "model": pa.array(np.where(ids % 2 == 0, "tiny-gen", "qwen-7b")),
        "turn": pa.array((ids % 3).astype(np.int64)),
        "sample_idx": pa.array((ids % 8).astype(np.int64)),
        "prompt": prompt,
        "completion": pick(pools["completion"]),
        "code": pick(pools["code"]),
        "finish_reason": pa.array(np.where(rng.random(n) < 0.9, "stop", "length")),
        "n_tokens": pa.array(rng.integers(10, 512, size=n)),
        "temperature": pa.array(np.full(n, 0.7)),
        "seed": pa.array((ids % 1000).astype(np.int64)),
    })


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_commit(store: Store, base_dir: str, rows: int, shard_rows: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    pools = {"system": pool(rng, 1, 20, 21, "You are a careful programmer. "),
             "statement": pool(rng, 2000, 30, 80, "Problem: "),
             "completion": pool(rng, 4000, 40, 120, "Here is my solution:\n"),
             "code": pool(rng, 4000, 20, 80, "def solve():\n")}
    key = artifact_key("bench", "1", {"rows": rows}, {})
    w = store.open_writer("rollouts", key, stage="bench", config={"rows": rows}, inputs={},
                          code_version="1")
    t_store = t_base = 0.0
    for idx, start in enumerate(range(0, rows, shard_rows)):
        shard = make_shard(start, min(shard_rows, rows - start), pools, seed=idx)  # untimed
        t_store += timed(lambda: w.write_shard(idx, shard))
        path = os.path.join(base_dir, f"part-{idx:05d}.parquet")
        t_base += timed(lambda: pq.write_table(shard, path, compression=COMPRESSION))
    t_store += timed(lambda: w.commit(schema=shard.schema))  # manifest + catalog refresh
    assert store.read_manifest("rollouts", key)["rows"] == rows
    return t_store, t_base


def bench_dicts(store: Store, base_dir: str, n: int) -> tuple[float, float]:
    """Commit from list[dict] (what most stages hand over) vs from_pylist + write_table."""
    rng = np.random.default_rng(1)
    pools = {"system": pool(rng, 1, 20, 21, "S: "), "statement": pool(rng, 500, 30, 80, "P: "),
             "completion": pool(rng, 500, 40, 120, "C: "), "code": pool(rng, 500, 20, 80, "D: ")}
    shard = make_shard(0, n, pools, seed=99)
    rows, schema = shard.to_pylist(), shard.schema  # untimed
    w = store.open_writer("rollouts_dicts", "dicts", stage="bench", config={}, inputs={},
                          code_version="1")
    ours = timed(lambda: (w.write_shard(0, rows, schema=schema), w.commit(schema=schema)))
    path = os.path.join(base_dir, "..", "dicts.parquet")
    theirs = timed(lambda: pq.write_table(pa.Table.from_pylist(rows, schema=schema), path,
                                          compression=COMPRESSION))
    return ours, theirs


def bench_query(sql: str, store: Store, base_dir: str, repeat: int) -> tuple[float, float, int]:
    glob = f"read_parquet('{base_dir}/*.parquet')"

    def base() -> int:
        con = duckdb.connect()
        try:
            return con.sql(sql.format(src=glob)).fetchall()
        finally:
            con.close()

    ours = [timed(lambda: store.sql(sql.format(src="rollouts"))) for _ in range(repeat)]
    theirs = [timed(base) for _ in range(repeat)]
    a, b = store.sql(sql.format(src="rollouts")).num_rows, len(base())
    assert a == b, f"store and baseline disagree: {a} vs {b} result rows"
    return statistics.median(ours), statistics.median(theirs), a


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shard-rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="query repetitions (median reported)")
    ap.add_argument("--root", help="store root (default: a fresh temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the written files")
    args = ap.parse_args(argv)
    tmp = args.root or tempfile.mkdtemp(prefix="ctrl-bench-")
    store, base_dir = Store(os.path.join(tmp, "store")), os.path.join(tmp, "baseline")
    os.makedirs(base_dir, exist_ok=True)
    try:
        t_store, t_base = bench_commit(store, base_dir, args.rows, args.shard_rows)
        size = sum(os.path.getsize(os.path.join(base_dir, f)) for f in os.listdir(base_dir))
        print(f"\n{args.rows:,} rollout rows in shards of {args.shard_rows:,}, {COMPRESSION} "
              f"parquet {size / 2**20:.0f} MiB, {os.cpu_count()} CPUs, duckdb {duckdb.__version__}, "
              f"pyarrow {pa.__version__}\n")
        head = f"{'measure':<48} {'ctrl store':>12} {'baseline':>12} {'ratio':>7}  target"
        print(head + "\n" + "-" * len(head))
        rs, rb = args.rows / t_store, args.rows / t_base
        print(f"{'commit rows/s (vs pq.write_table)':<48} {rs:>12,.0f} {rb:>12,.0f} "
              f"{rs / rb:>7.2f}  >= 200,000 rows/s {'OK' if rs >= 200_000 else 'MISSED'}")
        n_d = min(args.rows, 100_000)
        ours, theirs = bench_dicts(store, base_dir, n_d)
        print(f"{f'commit rows/s from {n_d:,} dicts (vs from_pylist)':<48} {n_d / ours:>12,.0f} "
              f"{n_d / theirs:>12,.0f} {theirs / ours:>7.2f}")
        for name, sql in QUERIES.items():
            ours, theirs, _ = bench_query(sql, store, base_dir, args.repeat)
            target = "< 1 s " + ("OK" if ours < 1 else "MISSED") if "4 aggs" in name else ""
            print(f"{(name + ' s (vs glob)'):<48} {ours:>12.3f} {theirs:>12.3f} "
                  f"{ours / theirs:>7.2f}  {target}")
        print("\nratio = ctrl store / baseline (commit: higher is better; latency: lower is better)")
    finally:
        if not args.keep and not args.root:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
