"""Revisions: the frozen generator revises its solution given a critique; the sandbox scores it.

Reads ``critiques`` (kept rows by default), ``rollouts`` and ``problems``; writes ``revisions``
(one row per critique: ``revision_id, critique_id, rollout_id, problem_id, round, prompt,
completion, code, code_found, passed, status, n_passed, n_cases, model``).

The conversation is CTRL's (``ctrl.prompts.revision_messages``): the original generation prompt,
the previous completion as the assistant turn, then the critique plus an instruction to finalize
in the same format. The revised code is extracted (``ctrl.extract``) and judged on the private
tests with the same code path as the ``executions`` stage (``ctrl.execute.execute_chunk``), so a
revision's ``passed`` means exactly what a rollout's does. ``passed`` is null when the sandbox
itself failed (``status='sandbox_error'``); metrics refuse to score such rows silently.

Run: ``ctrl revise`` (inputs default to the newest artifacts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl.generation import GenerationConfig, generation
from ctrl import cli_args
from ctrl.config import ConfigError, doc, to_dict
from ctrl.critique import fingerprint, load_inputs
from ctrl.models import ModelPool
from ctrl.stage import StageResult, materialize
from sandbox import JUDGE_VERSION

log = logging.getLogger("ctrl.revise")
# revisions are judged: a new judge is a new key; the prompts and extraction are code
VERSION = code_version("1+judge" + JUDGE_VERSION, __name__, "ctrl.prompts", "ctrl.critic_prompts",
                       "ctrl.extract", "ctrl.models", "ctrl.envs", "ctrl.backends.transformers")

_MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMA = pa.schema([
    ("revision_id", pa.string()), ("critique_id", pa.string()), ("rollout_id", pa.string()),
    ("problem_id", pa.string()), ("round", pa.int64()), ("model", pa.string()),
    ("prompt", _MSG), ("completion", pa.string()), ("code", pa.string()),
    ("code_found", pa.bool_()), ("passed", pa.bool_()), ("status", pa.string()),
    ("n_passed", pa.int64()), ("n_cases", pa.int64()),
])


@dataclass(frozen=True)
class ReviseConfig:
    """Revision of solutions by the frozen generator (CTRL: greedy, <= 1024 tokens)."""

    generation: GenerationConfig = generation("the frozen generator and its sampling (0 = greedy, "
                                              "as in the paper)", temperature=0.0,
                                              max_new_tokens=1024)
    include_dropped: bool = doc("also revise with critiques the synthesis filters dropped", False)
    test_set: str = doc("tests that score the revision: private | public", "private")
    isolation: str = doc("sandbox isolation: auto | firejail | none", "auto")
    workers: int = doc("parallel sandbox processes (0 = the sandbox's default)", 0)
    shard_size: int = doc("critiques per shard (resume unit)", 16)

    def __post_init__(self) -> None:
        if self.test_set not in ("private", "public"):
            raise ConfigError(f"test_set={self.test_set!r}: use private or public")
        if self.shard_size < 1:  # generation validates its own fields
            raise ConfigError(f"shard_size={self.shard_size}: must be >= 1")


def judge_codes(items: list[dict], problems: dict, cfg: ReviseConfig) -> list[dict]:
    """Execution rows (executions-stage format) for ``items`` with ``rollout_id``/``code``."""
    from ctrl.envs.judging import judge_codes as _judge

    return _judge(items, problems, test_set=cfg.test_set, isolation=cfg.isolation,
                  workers=cfg.workers or None)


def revise_rows(todo: Sequence[tuple[dict, dict, str]], problems: dict, cfg: ReviseConfig,
                handle: Any, round_: int = 1) -> list[dict]:
    """Revise and judge (``ctrl.envs.revision``): ``todo`` holds (critique-like row, rollout
    row, critique text); one batched generate call and one sandbox call for all of them."""
    from ctrl.envs.revision import RevisionCase, revise_and_judge

    cases = [RevisionCase(f"{c['critique_id']}/r{round_}", r["problem_id"], list(r["prompt"]),
                          r["completion"] or "", text) for c, r, text in todo]
    revs = revise_and_judge(handle, cases, problems, cfg.generation.sampling(), test_set=cfg.test_set,
                            isolation=cfg.isolation, workers=cfg.workers or None)
    out = []
    for (c, r, _), v in zip(todo, revs):
        e = v.execution
        out.append(dict(revision_id=v.case.revision_id, critique_id=c["critique_id"],
                        rollout_id=r["rollout_id"], problem_id=r["problem_id"], round=round_,
                        model=cfg.generation.model, prompt=v.prompt, completion=v.completion, code=v.code,
                        code_found=v.code_found, passed=e["passed"], status=e["status"],
                        n_passed=e["n_passed"], n_cases=e["n_cases"]))
    return out


def run(store: Any, cfg: ReviseConfig, *, critiques: str, problems: str,
        rollouts: str, pool: ModelPool | None = None) -> StageResult:
    """Revise every (kept) critique's solution; returns the revisions key.

    Args:
        pool: the caller's model handles (a new pool when None).
    """
    rolls, probs, _ = load_inputs(store, rollouts=rollouts, problems=problems)
    by_id = {r["rollout_id"]: r for r in rolls}
    crit = [c for c in store.read_table("critiques", critiques).to_pylist()
            if (cfg.include_dropped or not c["dropped"]) and c["critique"] is not None]
    unknown = sorted({c["rollout_id"] for c in crit} - set(by_id))
    if unknown:
        raise ConfigError(f"critiques {critiques} refer to {len(unknown)} rollouts missing from "
                             f"rollouts {rollouts} (e.g. {unknown[:3]}); pass the rollouts key the "
                             "critiques were made from")
    crit.sort(key=lambda c: c["critique_id"])
    handle = (pool or ModelPool(store)).get(cfg.generation.model, cfg.generation.backend,
                                            **cfg.generation.options())

    def process(chunk: list[dict]) -> list[dict]:
        return revise_rows([(c, by_id[c["rollout_id"]], c["critique"]) for c in chunk],
                           probs, cfg, handle)

    conf = {k: v for k, v in to_dict(cfg).items() if k != "workers"}
    return materialize(store, stage="revise", table="revisions", version=VERSION, config=conf,
                       inputs={"critiques": critiques, "problems": problems,
                               "rollouts": rollouts, "model": fingerprint(handle.path)},
                       items=crit, process=process, shard_size=cfg.shard_size, schema=SCHEMA,
                       desc="revise")


def add_parser(subparsers: Any) -> None:
    """``ctrl revise``: revise solutions with their critiques and score the revisions."""
    p = subparsers.add_parser("revise", help="revise solutions given critiques, then judge them",
                              description=__doc__,
                              formatter_class=cli_args.RAW)
    cli_args.add_inputs(p, "critiques", "problems", "rollouts")
    cli_args.add_config(p, ReviseConfig)
    p.set_defaults(func=lambda a: cli_args.run_stage(a, run, ReviseConfig,
                                                     ["critiques", "problems", "rollouts"]))
