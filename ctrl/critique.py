"""Critiques: CTRL stage I synthesis (execution-guided, filtered) and hint-free critic critiques.

Reads ``rollouts``, ``executions`` and ``problems``; writes ``critiques`` (one row per critique,
dropped ones included with ``dropped=True`` and a ``drop_reason`` so SQL can count them).

``run`` (``ctrl synthesize``, origin ``synthesized``): for every rollout, the execution becomes a hint
(``ctrl.feedback.ctrl_hint``: all_pass / all_fail / partial / timeout / error); the synthesizer
writes a three-part critique given problem + solution + hint (``ctrl.critic_prompts``). A critique is
dropped when it mentions the hint (``leaks_hint``), has no parsable final judgment
(``no_judgment``), or its judgment contradicts the execution (``contradicts_execution``); solutions
left out to balance correct/incorrect are rows with ``balance``; surplus critiques beyond
``keep_per`` limits are ``extra``. ``synthesizer="template"`` (explicit opt-in, for CPU smoke runs
with a model that cannot write critiques) writes deterministic critiques from the hint instead and
labels them ``critic_model="template"``.

``criticize`` (origin ``critic``): a critic model critiques rollouts from the hint-FREE prompt, as
at test time; nothing is dropped (evaluation scores every judgment, unparsable ones included).

Run: ``ctrl synthesize --set synthesizer=template`` (inputs default to the newest artifacts).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl.generation import GenerationConfig, generation
from ctrl import cli_args
from ctrl.config import ConfigError, doc, to_dict
from ctrl.critic_prompts import critique_messages, leaks_hint, template_critique
from ctrl.judgment import parse_judgment
from ctrl.models import ModelPool, generate_texts
from ctrl.stage import StageResult, materialize

log = logging.getLogger("ctrl.critique")
# keys follow the code: the stage, its prompts, hint feedback and judgment parsing
VERSION = code_version("1", __name__, "ctrl.critic_prompts", "ctrl.feedback", "ctrl.judgment",
                       "ctrl.extract", "ctrl.models", "ctrl.backends.transformers")
CRITIC_VERSION = VERSION

_MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMA = pa.schema([
    ("critique_id", pa.string()), ("rollout_id", pa.string()), ("problem_id", pa.string()),
    ("critic_model", pa.string()), ("origin", pa.string()), ("sample_idx", pa.int64()),
    ("hint_kind", pa.string()), ("hint", pa.string()), ("passed", pa.bool_()),
    ("prompt", _MSG), ("critique", pa.string()), ("judgment", pa.string()),
    ("dropped", pa.bool_()), ("drop_reason", pa.string()), ("seed", pa.int64()),
])


@dataclass(frozen=True)
class CritiqueConfig:
    """Critique synthesis (CTRL stage I, step 2-3)."""

    synthesizer: str = doc("'model' (the model below writes critiques) or 'template' "
                           "(deterministic critiques from the hint; CPU smoke runs only)", "model")
    generation: GenerationConfig = generation("the synthesizing model and its sampling",
                                              temperature=0.7, top_p=0.8, max_new_tokens=1024)
    samples_per_solution: int = doc("critiques sampled per solution", 1)
    keep_per: str = doc("keep at most one surviving critique per 'solution' or per 'problem', "
                        "or 'all' to keep every survivor", "solution")
    balance_correct: float = doc("target share of passing solutions among those critiqued "
                                 "(0 < r < 1); 0 disables balancing", 0.5)
    test_set: str = doc("which executions make the hint: private | public | all (merged)",
                        "private")
    max_solutions: int = doc("cap on solutions considered (0 = all), for smoke runs", 0)
    seed: int = doc("seed for balancing and the failing case shown in hints (sampling: "
                    "generation.seed)", 0)
    shard_size: int = doc("problems per shard (resume unit)", 8)

    def __post_init__(self) -> None:
        if self.synthesizer not in ("model", "template"):
            raise ConfigError(f"synthesizer={self.synthesizer!r}: use 'model' or 'template'")
        if self.keep_per not in ("solution", "problem", "all"):
            raise ConfigError(f"keep_per={self.keep_per!r}: use 'solution', 'problem' or 'all'")
        if not (self.balance_correct == 0 or 0 < self.balance_correct < 1):
            raise ConfigError(f"balance_correct={self.balance_correct}: use a share in (0, 1), "
                              "or 0 to disable balancing")
        if self.test_set not in ("private", "public", "all"):
            raise ConfigError(f"test_set={self.test_set!r}: use private, public or all")
        if self.samples_per_solution < 1 or self.shard_size < 1:
            raise ConfigError("samples_per_solution and shard_size must be >= 1")
        if self.synthesizer == "template" and self.samples_per_solution != 1:
            raise ConfigError("synthesizer='template' is deterministic: set samples_per_solution=1")


@dataclass(frozen=True)
class CriticConfig:
    """A critic critiquing solutions from the hint-free prompt (evaluation, revision rounds)."""

    generation: GenerationConfig = generation("the critic model and its sampling (0 = greedy)",
                                              temperature=0.0, max_new_tokens=1024)
    shard_size: int = doc("rollouts per shard (resume unit)", 16)


# ------------------------------------------------------------------ inputs


def fingerprint(model_path: str) -> str:
    """The weights' fingerprint (``ctrl.generation.model_fingerprint``) for artifact keys."""
    from ctrl.generation import model_fingerprint

    return model_fingerprint(model_path)


def load_inputs(store: Any, *, rollouts: str, problems: str, executions: str | None = None,
                test_set: str = "private") -> tuple[list[dict], dict, dict]:
    """(rollout rows, problems by id, execution by rollout id) from the store."""
    rows = store.read_table("rollouts", rollouts).to_pylist()
    probs = {p["problem_id"]: p for p in store.read_table("problems", problems).to_pylist()}
    execs: dict[str, dict] = {}
    if executions:
        from ctrl.feedback import merge_executions

        by_rollout: dict[str, list[dict]] = {}
        for e in store.read_table("executions", executions).to_pylist():
            if test_set == "all" or e["test_set"] == test_set:
                by_rollout.setdefault(e["rollout_id"], []).append(e)
        execs = {rid: merge_executions(sorted(es, key=lambda e: e["test_set"]))
                 for rid, es in by_rollout.items()}
    missing = {r["problem_id"] for r in rows} - set(probs)
    if missing:
        raise ConfigError(f"rollouts {rollouts} name {len(missing)} problems absent from problems "
                             f"{problems} (e.g. {sorted(missing)[:3]}); pass the problems key the "
                             "rollouts were generated from")
    return rows, probs, execs


def _rank(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def balance(rows: list[dict], passed: dict[str, bool], share: float, seed: int) -> set[str]:
    """Rollout ids left out so passing solutions make up ``share`` of the rest (seeded)."""
    if not share:
        return set()
    good = sorted((r["rollout_id"] for r in rows if passed[r["rollout_id"]]),
                  key=lambda i: _rank(seed, i))
    bad = sorted((r["rollout_id"] for r in rows if not passed[r["rollout_id"]]),
                 key=lambda i: _rank(seed, i))
    if not good or not bad:
        log.warning("balance: only %s solutions; nothing to balance against",
                    "passing" if good else "failing")
        return set()
    if len(good) / (len(good) + len(bad)) > share:
        return set(good[max(1, round(share / (1 - share) * len(bad))):])
    return set(bad[max(1, round((1 - share) / share * len(good))):])


# ------------------------------------------------------------------ synthesis


def _row(r: dict, j: int, *, model: str, origin: str, seed: int, **kw: Any) -> dict:
    base = dict(critique_id=f"{r['rollout_id']}/{origin[0]}{j}", rollout_id=r["rollout_id"],
                problem_id=r["problem_id"], critic_model=model, origin=origin, sample_idx=j,
                hint_kind=None, hint=None, passed=None, prompt=[], critique=None,
                judgment=None, dropped=False, drop_reason=None, seed=seed)
    base.update(kw)
    return base


def drop_reason(critique: str, judgment: str | None, passed: bool) -> str | None:
    """Why a synthesized critique is dropped, or None when it is kept."""
    if leaks_hint(critique):
        return "leaks_hint"
    if judgment is None:
        return "no_judgment"
    if (judgment == "correct") != bool(passed):
        return "contradicts_execution"
    return None


def _keep_limits(rows: list[dict], keep_per: str) -> None:
    """Mark surviving critiques beyond one per solution/problem as dropped ('extra')."""
    if keep_per == "all":
        return
    seen: set[str] = set()
    for row in rows:
        if row["dropped"]:
            continue
        unit = row["rollout_id"] if keep_per == "solution" else row["problem_id"]
        if unit in seen:
            row.update(dropped=True, drop_reason="extra")
        seen.add(unit)


def _synthesize_shard(groups: list[list[dict]], *, cfg: CritiqueConfig, probs: dict,
                      execs: dict, left_out: set[str], handle: Any) -> list[dict]:
    from ctrl.feedback import ctrl_hint

    label = "template" if cfg.synthesizer == "template" else cfg.generation.model
    out: list[dict] = []
    todo: list[tuple[dict, str, str, bool, list[dict]]] = []
    for r in (r for g in groups for r in g):
        ex = execs.get(r["rollout_id"])
        common = dict(model=label, origin="synthesized", seed=cfg.seed)
        if ex is None:
            out.append(_row(r, 0, dropped=True, drop_reason="no_execution", **common))
            continue
        kind, hint = ctrl_hint(ex, seed=cfg.seed)
        passed = bool(ex["passed"])
        info = dict(hint_kind=kind, hint=hint, passed=passed, **common)
        if ex.get("status") == "sandbox_error":
            out.append(_row(r, 0, dropped=True, drop_reason="sandbox_error", **info))
        elif r["rollout_id"] in left_out:
            out.append(_row(r, 0, dropped=True, drop_reason="balance", **info))
        else:
            prompt = critique_messages(probs[r["problem_id"]], r, hint)
            todo.append((r, kind, hint, passed, prompt))
    if cfg.synthesizer == "template":
        texts = [[template_critique(k, h, p)] for _, k, h, p, _ in todo]
    else:
        texts = generate_texts(handle, [t[4] for t in todo],
                               cfg.generation.sampling(cfg.samples_per_solution))
    made = []
    for (r, kind, hint, passed, prompt), samples in zip(todo, texts):
        for j, text in enumerate(samples):
            judgment = parse_judgment(text)
            why = drop_reason(text, judgment, passed)
            made.append(_row(r, j, model=label, origin="synthesized", seed=cfg.seed,
                             hint_kind=kind, hint=hint, passed=passed, prompt=prompt,
                             critique=text, judgment=judgment, dropped=why is not None,
                             drop_reason=why))
    _keep_limits(made, cfg.keep_per)
    return out + made


def _group_by_problem(rows: list[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["problem_id"], r["rollout_id"])):
        groups.setdefault(r["problem_id"], []).append(r)
    return list(groups.values())


def run(store: Any, cfg: CritiqueConfig, *, rollouts: str, executions: str,
        problems: str, pool: ModelPool | None = None) -> StageResult:
    """Synthesize critiques for every rollout (see module docstring); returns the critiques key."""
    rows, probs, execs = load_inputs(store, rollouts=rollouts, problems=problems,
                                     executions=executions, test_set=cfg.test_set)
    rows = [r for r in rows if r.get("skip_reason") in (None, "")]
    if cfg.max_solutions:
        rows = sorted(rows, key=lambda r: r["rollout_id"])[: cfg.max_solutions]
    usable = [r for r in rows if r["rollout_id"] in execs
              and execs[r["rollout_id"]].get("status") != "sandbox_error"]
    left_out = balance(usable, {r["rollout_id"]: bool(execs[r["rollout_id"]]["passed"])
                                for r in usable}, cfg.balance_correct, cfg.seed)
    inputs = {"rollouts": rollouts, "executions": executions, "problems": problems}
    handle = (pool or ModelPool(store)).get(cfg.generation.model, cfg.generation.backend,
                                            **cfg.generation.options()) \
        if cfg.synthesizer == "model" else None
    if handle is not None:  # the weights, not just the name, key the output
        inputs["model"] = fingerprint(handle.path)

    def counts() -> dict:
        return {"metrics": {"solutions": len(rows), "balanced_out": len(left_out)}}

    return materialize(
        store, stage="critique", table="critiques", version=VERSION, config=to_dict(cfg),
        inputs=inputs, items=lambda: _group_by_problem(rows), shard_size=cfg.shard_size, schema=SCHEMA,
        process=lambda g: _synthesize_shard(g, cfg=cfg, probs=probs, execs=execs,
                                            left_out=left_out, handle=handle),
        extra=counts, desc="critique")


# ------------------------------------------------------------------ critic (hint-free)


def criticize(store: Any, cfg: CriticConfig, *, rollouts: str, problems: str,
              rollout_ids: list[str] | None = None,
              pool: ModelPool | None = None) -> StageResult:
    """Critiques of ``rollouts`` by the critic ``cfg.generation.model`` from the hint-free prompt.

    Args:
        rollout_ids: restrict to these rollouts (e.g. one revision round's survivors).
        pool: the caller's model handles (a new pool when None).
    """
    rows, probs, _ = load_inputs(store, rollouts=rollouts, problems=problems)
    if rollout_ids is not None:
        wanted = set(rollout_ids)
        rows = [r for r in rows if r["rollout_id"] in wanted]
    rows = sorted(rows, key=lambda r: r["rollout_id"])
    handle = (pool or ModelPool(store)).get(cfg.generation.model, cfg.generation.backend,
                                            **cfg.generation.options())

    def shard(chunk: list[dict]) -> list[dict]:
        prompts = [critique_messages(probs[r["problem_id"]], r) for r in chunk]
        texts = generate_texts(handle, prompts, cfg.generation.sampling())
        return [_row(r, 0, model=cfg.generation.model, origin="critic", seed=cfg.generation.seed, prompt=p,
                     critique=t[0], judgment=parse_judgment(t[0]))
                for r, p, t in zip(chunk, prompts, texts)]

    inputs = {"rollouts": rollouts, "problems": problems, "model": fingerprint(handle.path)}
    conf = to_dict(cfg) | {"rollout_ids": sorted(rollout_ids) if rollout_ids is not None else None}
    return materialize(store, stage="criticize", table="critiques", version=CRITIC_VERSION,
                       config=conf, inputs=inputs, items=rows, process=shard,
                       shard_size=cfg.shard_size, schema=SCHEMA, desc="criticize")


def add_parser(subparsers: Any) -> None:
    """``ctrl synthesize``: critique synthesis from rollouts + executions."""
    p = subparsers.add_parser("synthesize", help="synthesize critiques from executions (CTRL I)",
                              description=__doc__,
                              formatter_class=cli_args.RAW)
    cli_args.add_inputs(p, "rollouts", "executions", "problems")
    cli_args.add_config(p, CritiqueConfig)
    p.set_defaults(func=lambda a: cli_args.run_stage(a, run, CritiqueConfig,
                                                     ["rollouts", "executions", "problems"]))
