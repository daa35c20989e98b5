"""Benchmark the rollout stage on MBPP test prompts: throughput and what the model writes.

Ingests MBPP (test split), runs ``ctrl.rollout`` for the first N problems (by problem_id) with k
samples each, and reports:

- samples/s and new tokens/s of the stage (wall clock, model load included; tokens are the
  generated tokens of each sample, never padding);
- the named baseline in the same run: the transformers backend alone generating the same prompts
  with the same sampling (model already loaded, ``batch_size`` 32), and the stage/baseline ratio,
  so a number measured on a loaded machine can be read against what the machine did meanwhile;
- code_found_rate: samples where extraction found code;
- nontrivial_function_rate: samples whose extracted code parses and defines the entry point with
  a body that is not only pass / docstrings / ``...`` / ``return None`` / ``raise
  NotImplementedError`` (``ctrl.extract.has_nontrivial_function``);
- pass@1: the mean over samples of passing all private tests, judged by ``sandbox.judge``
  (samples with no code count as failures).

Run: ``nice -n 19 .venv/bin/python bench/bench_generation.py [--model default] [--problems 50]
[--k 4] [--max-new-tokens 256] [--shard-size 50] [--isolation auto|none]``. Writes
bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import platform
import shutil
import sys
import tempfile
import time

from ctrl.config import from_dict
from ctrl.extract import has_nontrivial_function
from ctrl.generation import model_fingerprint
from ctrl.ingest import IngestConfig
from ctrl.ingest import run as ingest
from ctrl.rollout import RolloutConfig
from ctrl.rollout import run as rollout
from storage import Store

OUT = pathlib.Path(__file__).resolve().parent / "results" / "generation.json"


def judge_rows(rows: list[dict], problems: dict[str, dict], isolation: str) -> list[bool]:
    """Private-test verdicts per rollout row (False when there is no code)."""
    from sandbox import judge

    items = [{"id": r["rollout_id"], "code": r["code"],
              "tests": json.loads(problems[r["problem_id"]]["private_tests"]),
              "time_limit_s": problems[r["problem_id"]]["time_limit_s"] or 5.0,
              "memory_mb": problems[r["problem_id"]]["memory_mb"] or 512}
             for r in rows if r["code"]]
    verdict = {res["id"]: bool(res["passed"]) for res in judge(items, isolation=isolation)}
    return [verdict.get(r["rollout_id"], False) for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--problems", type=int, default=50)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--isolation", default="auto", help="sandbox isolation (auto or none)")
    ap.add_argument("--shard-size", type=int, default=50,
                    help="problems per rollout shard: one shard's samples share the batch")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--keep", action="store_true", help="keep the temporary store")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    root = tempfile.mkdtemp(prefix="bench-gen-")
    try:
        return _bench(args, Store(root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _bench(args: argparse.Namespace, store: Store) -> int:
    pkey = ingest(store, IngestConfig(source="mbpp", split="test")).key
    cfg = from_dict(RolloutConfig, {"generation.model": args.model, "samples": args.k,
                                    "generation.temperature": args.temperature,
                                    "generation.max_new_tokens": args.max_new_tokens,
                                    "limit": args.problems, "shard_size": args.shard_size})
    t0 = time.monotonic()
    res = rollout(store, cfg, problems=pkey)
    wall = time.monotonic() - t0
    rows = store.read_table("rollouts", res.key).to_pylist()
    problems = {p["problem_id"]: p for p in store.read_table("problems", pkey).to_pylist()}
    base_tps = _baseline(args, rows, cfg)
    nontrivial = [has_nontrivial_function(r["code"], problems[r["problem_id"]]["entry_point"])
                  for r in rows]
    try:
        passed = judge_rows(rows, problems, args.isolation)
        pass1, judge_note = sum(passed) / len(rows), f"sandbox isolation={args.isolation}"
    except Exception as e:  # noqa: BLE001 - reported in the result, never silently scored
        pass1, judge_note = None, f"sandbox unavailable: {type(e).__name__}: {e}"
    result = {
        "model": args.model, "model_fingerprint": model_fingerprint(args.model),
        "problems": args.problems, "k": args.k, "shard_size": args.shard_size,
        "temperature": args.temperature,
        "max_new_tokens": args.max_new_tokens, "samples": len(rows),
        "wall_s": round(wall, 1), "samples_per_s": round(len(rows) / wall, 3),
        "new_tokens_per_s": round(sum(r["n_tokens"] for r in rows) / wall, 1),
        "baseline": "transformers backend alone, same prompts and sampling, batch_size 32, "
                    "model preloaded",
        "baseline_new_tokens_per_s": round(base_tps, 1),
        "stage_over_baseline": round(sum(r["n_tokens"] for r in rows) / wall / base_tps, 3),
        "code_found_rate": res.metrics["code_found_rate"],
        "nontrivial_function_rate": sum(nontrivial) / len(rows),
        "mean_new_tokens": res.metrics["mean_new_tokens"],
        "pass@1": pass1, "judge": judge_note,
        "machine": f"{platform.machine()} {platform.processor() or ''} (CPU, shared)".strip(),
    }
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"\n| measured | new tokens/s |\n|---|---|\n| stage (rollout, load included) | "
          f"{result['new_tokens_per_s']} |\n| baseline (backend, batch 32) | "
          f"{result['baseline_new_tokens_per_s']} |\n| ratio | {result['stage_over_baseline']} |")
    return 0


def _baseline(args: argparse.Namespace, rows: list[dict], cfg: RolloutConfig) -> float:
    """New tokens/s of the backend alone on the stage's prompts (model load not timed)."""
    from ctrl.generation import load_backend

    backend = load_backend(args.model, "transformers", batch_size=32)
    prompts = [r["prompt"] for r in rows if r["sample_idx"] == 0]
    t0 = time.monotonic()
    out = backend.generate(prompts, cfg.sampling())
    return sum(c.n_tokens for cs in out for c in cs) / (time.monotonic() - t0)


if __name__ == "__main__":
    sys.exit(main())
