"""Stage ``rollout``: sample generator solutions for problems.

Reads: ``problems`` (one artifact, optionally filtered with SQL). Writes: ``rollouts``, one row per
(problem, sample) with the prompt, completion, extracted code and token counts (row format in
docs/internals.md). Sharded by problems, cached by key (stage version, config, problems key,
model fingerprint), resumable: after a kill, re-running the same command skips finished shards and
produces exactly the rows an uninterrupted run would (every prompt's seed is derived from the
base seed and the prompt, so a shard's samples do not depend on which process generates them).
For the same reason a problem already sampled by an earlier complete artifact with the same model
weights and sampling settings is not sampled again: its samples are taken over (``reuse``, on by
default; ``ctrl.rollout_reuse`` says what matches) and the manifest records how many problems
were reused, from which artifacts (``extra.reused_from``), and how many generated. Reuse never
changes the rows, only the time it takes to produce them.

Run: ``ctrl rollout --problems "source = 'mbpp' AND split = 'test'" --model default --n 4
--temperature 0.7 --limit 50``; ``--problems`` takes an artifact key or a SQL filter over the
newest problems artifact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from typing import Any

import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl.generation import GenerationConfig, generation
from ctrl.config import ConfigError, doc, to_dict
from ctrl.rollout_reuse import Reuse, candidates
from ctrl.stage import StageResult, materialize

log = logging.getLogger("ctrl.rollout")

STAGE, TABLE = "rollout", "rollouts"
# the sampling loop (backend, model layer) decides the text: it is code of this stage too
VERSION = code_version("2", __name__, "ctrl.prompts", "ctrl.extract", "ctrl.models",
                       "ctrl.backends.transformers")

SCHEMA = pa.schema([
    ("rollout_id", pa.string()), ("problem_id", pa.string()), ("model", pa.string()),
    ("turn", pa.int32()), ("sample_idx", pa.int32()),
    ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("completion", pa.string()), ("code", pa.string()), ("code_found", pa.bool_()),
    ("extract_method", pa.string()), ("finish_reason", pa.string()), ("n_tokens", pa.int32()),
    ("prompt_tokens", pa.int32()), ("temperature", pa.float64()), ("seed", pa.int64()),
    ("skip_reason", pa.string()),
])


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
    """Settings of the rollout stage (stored in the manifest; part of the key)."""

    generation: GenerationConfig = generation("the generator and its sampling (seed: prompt seeds "
                                              "are derived from it)", temperature=0.7)
    samples: int = doc("samples per problem (k)", 4)
    where: str = doc("SQL filter over the problems table, e.g. \"split = 'test'\"", "")
    limit: int = doc("first N problems (by problem_id) after the filter; 0 = all", 0)
    # 32 problems x samples fill the batched decoder (bench/bench_generation.py): smaller
    # shards pay each shard's slow tail
    shard_size: int = doc("problems per shard (the unit of resume)", 32)
    concurrency: int = doc("openai backend: parallel requests", 8)
    reuse: bool = doc("take a problem's samples from an earlier rollouts artifact with the same "
                      "model, sampling settings and prompt instead of generating them again; "
                      "never changes the rows (see ctrl.rollout_reuse)", True)

    def __post_init__(self) -> None:
        if self.limit < 0 or self.shard_size < 1 or self.concurrency < 1:
            raise ConfigError("limit must be >= 0, shard_size and concurrency >= 1")
        if ";" in self.where:
            raise ConfigError("where: give one SQL boolean expression, without ';'")
        self.sampling()  # n >= 1

    def sampling(self):
        return self.generation.sampling(n=self.samples)


def rollout_id(problem_id: str, model: str, turn: int, sample_idx: int, seed: int) -> str:
    """Deterministic id of one sample."""
    blob = f"{problem_id}\x1f{model}\x1f{turn}\x1f{sample_idx}\x1f{seed}".encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def select_problems(store, key: str, where: str = "", limit: int = 0) -> list[dict[str, Any]]:
    """Problems of artifact ``key`` matching ``where``, ordered by problem_id, first ``limit``."""
    import duckdb

    table = store.read_table("problems", key)
    con = duckdb.connect()
    con.register("problems", table)
    sql = "SELECT * FROM problems" + (f" WHERE {where}" if where else "")
    sql += " ORDER BY problem_id" + (f" LIMIT {int(limit)}" if limit else "")
    try:
        return con.sql(sql).to_arrow_table().to_pylist()
    except duckdb.Error as e:
        raise ConfigError(f"problems filter {where!r} failed on artifact {key}: {e}; columns "
                          f"are {table.column_names}") from e


class _Generator:
    """Turns a shard of problems into rollout rows; loads the backend on first use (never, when
    every problem of the run is reused)."""

    def __init__(self, cfg: RolloutConfig, reuse: Reuse, handle: Any) -> None:
        self.cfg, self.reuse, self.handle = cfg, reuse, handle
        self.samples = self.tokens = 0
        self.t0 = time.monotonic()

    def __call__(self, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ctrl.generation import Completion
        from ctrl.prompts import generator_prompt

        prompts, bad, comps = [], {}, {}
        for i, p in enumerate(problems):
            try:
                prompts.append(generator_prompt(p))
            except ValueError as e:
                bad[i] = str(e)
                prompts.append([])
                continue
            stored = self.reuse.take(p["problem_id"], prompts[i])
            if stored is not None:  # generation outputs only; _rows derives the rest
                comps[i] = [Completion(c["completion"], c["finish_reason"], c["n_tokens"],
                                       c["prompt_tokens"]) for c in stored]
        todo = [i for i in range(len(problems)) if i not in bad and i not in comps]
        # one batched call for every sample of every problem left in the shard
        outs = self.handle.generate([prompts[i] for i in todo], self.cfg.sampling())
        for i, out in zip(todo, outs):
            comps[i] = out
            self.samples += len(out)
            self.tokens += sum(c.n_tokens for c in out)
        self.reuse.generated += len(todo) + len(bad)
        rows = []
        for i, p in enumerate(problems):
            rows.extend(_rows(self.cfg, p, prompts[i], comps.get(i), bad.get(i)))
        return rows

    def rates(self) -> dict[str, float]:
        dt = max(time.monotonic() - self.t0, 1e-9)
        return {"samples/s": self.samples / dt, "tokens/s": self.tokens / dt}


def _rows(cfg: RolloutConfig, problem, prompt, comps, bad: str | None) -> list[dict[str, Any]]:
    """A problem's rows from its completions (fresh or reused: the same rows either way)."""
    from ctrl.extract import extract_code

    rows = []
    for k in range(cfg.samples):
        c = comps[k] if comps else None
        skip = f"bad_problem: {bad}" if bad else None
        if c is not None and c.finish_reason == "prompt_too_long":
            skip = (f"prompt_too_long: the prompt has {c.prompt_tokens} tokens, which fills "
                    "the model's context; use a model with a longer context")
        ex = extract_code(c.text, problem.get("entry_point") or "") if c and not skip else None
        rows.append({
            "rollout_id": rollout_id(problem["problem_id"], cfg.generation.model, 0, k, cfg.generation.seed),
            "problem_id": problem["problem_id"], "model": cfg.generation.model, "turn": 0,
            "sample_idx": k, "prompt": prompt, "completion": c.text if c else "",
            "code": ex.code if ex else None, "code_found": bool(ex and ex.code_found),
            "extract_method": ex.method if ex else "none",
            "finish_reason": c.finish_reason if c else "skipped",
            "n_tokens": c.n_tokens if c else 0, "prompt_tokens": c.prompt_tokens if c else 0,
            "temperature": cfg.generation.temperature, "seed": cfg.generation.seed, "skip_reason": skip,
        })
    return rows


def summarize(table: pa.Table) -> dict[str, Any]:
    """Metrics of a rollouts table: counts, code found, non-trivial functions, tokens."""
    from ctrl.extract import has_nontrivial_function

    rows = table.select(["code", "code_found", "n_tokens", "finish_reason",
                         "skip_reason"]).to_pylist()
    n = len(rows) or 1
    return {
        "samples": len(rows),
        "skipped": sum(r["skip_reason"] is not None for r in rows),
        "code_found_rate": sum(r["code_found"] for r in rows) / n,
        "nontrivial_function_rate": sum(has_nontrivial_function(r["code"]) for r in rows) / n,
        "mean_new_tokens": sum(r["n_tokens"] for r in rows) / n,
        "finished_by_length": sum(r["finish_reason"] == "length" for r in rows) / n,
    }


def run(store, config: RolloutConfig, *, problems: str, pool: Any = None) -> StageResult:
    """Materialize rollouts of ``problems`` (a problems artifact key) under ``config``.

    Args:
        pool: the caller's ``ctrl.models.ModelPool`` (a new one when None); the model loads only
            when some problem is neither cached nor reused.
    """
    from ctrl.generation import model_fingerprint
    from ctrl.models import ModelPool

    gen_cfg = config.generation
    opts = {**gen_cfg.options(), "concurrency": config.concurrency} if gen_cfg.backend == "openai" else {}
    handle = (pool or ModelPool(store)).get(gen_cfg.model, gen_cfg.backend, **opts)
    cfg, fingerprint = to_dict(config), model_fingerprint(handle.path)
    reuse = Reuse(store, enabled=config.reuse, samples=config.samples, find=lambda: candidates(
        store, stage=STAGE, table=TABLE, version=VERSION, config=cfg, fingerprint=fingerprint))
    gen = _Generator(config, reuse, handle)
    res = materialize(
        store, stage=STAGE, table=TABLE, version=VERSION, config=cfg,
        inputs={"problems": problems, "model": fingerprint},
        items=lambda: reuse.remember(
            select_problems(store, problems, config.where, config.limit)),
        process=gen, shard_size=config.shard_size, schema=SCHEMA, desc="rollout",
        postfix=gen.rates, extra=reuse.extra,
    )
    res.metrics = {**summarize(store.read_table(TABLE, res.key)),
                   **res.manifest.get("metrics", {})}
    return res


def resolve_problems(store, spec: str | None) -> tuple[str, str]:
    """``--problems`` value -> (problems key, SQL filter): a key, a filter, or empty (newest)."""
    if spec and re.fullmatch(r"[0-9a-f]{16}", spec):
        if not store.has_table("problems", spec):
            raise ConfigError(f"no complete problems artifact {spec} in {store.root}; list them "
                              "with `ctrl runs` or pass a SQL filter instead")
        return spec, ""
    key = store.latest_key("problems")
    if not key:
        raise ConfigError(f"no problems artifact in {store.root}; run `ctrl ingest --source "
                          "mbpp` first")
    return key, spec or ""


def add_parser(subparsers) -> None:
    """``ctrl rollout``: sample solutions for problems."""
    from ctrl import cli_args

    p = subparsers.add_parser("rollout", help="sample generator solutions (table rollouts)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default="", help="problems artifact key, or a SQL filter over "
                   "the newest problems artifact (e.g. \"source = 'mbpp' AND split = 'test'\")")
    cli_args.add_config(p, RolloutConfig, aliases={"n": "samples"})
    p.set_defaults(func=_main)


def _main(args) -> int:
    import json

    from storage import Store

    from ctrl import cli_args

    values = cli_args.config_values(args, RolloutConfig)
    store = Store()
    key, where = resolve_problems(store, args.problems)
    if where and values.get("where"):
        raise ConfigError("give the SQL filter once: --problems FILTER or --where FILTER")
    cfg = cli_args.build_config(args, RolloutConfig, **({"where": where} if where else {}))
    res = run(store, cfg, problems=key)
    print(f"{res.table} {res.key}: {res.rows} rows ({'cached' if res.cached else 'built'})")
    print(json.dumps(res.metrics, indent=1, sort_keys=True))
    return 0
