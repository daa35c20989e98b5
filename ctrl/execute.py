"""The executions stage: run every rollout's code on its problem's tests in the sandbox.

Reads a ``rollouts`` artifact and a ``problems`` artifact; writes ``executions`` (one row per
rollout and test set, columns in docs/internals.md) through ``ctrl.stage.materialize``: cached by
key, resumable by shard, with a progress bar showing cases/s.

    ctrl execute --rollouts KEY [--problems KEY] [--test-sets public,private] [--workers N]
                 [--isolation auto|firejail|none]
    ctrl execute --problems KEY --reference     # canonical + broken reference rollouts, executed

Rows are never dropped:

- a rollout without code (``code_found`` false, null code, or a ``skip_reason``) gets a row with
  status ``syntax_error``, ``judge_rule`` ``"no_code"`` and no cases;
- a test set without cases (e.g. a HumanEval problem without docstring examples as public
  tests) gets status ``no_tests`` and ``passed`` NULL, without calling the sandbox;
- a result the sandbox could not produce (``sandbox_error`` in any case, or problem tests it cannot
  read) gets status ``sandbox_error`` and ``passed`` NULL, so it can never be scored as a failure
  by accident; pass rates exclude such rows and the summary counts them. When more than
  ``max_sandbox_error_frac`` of the executions judged so far are sandbox errors, the stage stops
  before storing the shard that crossed the line.

The ``isolation`` column records what the sandbox actually used for each row.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import time
from typing import Any

import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl.config import ConfigError, doc, to_dict
from ctrl.errors import UserError
from ctrl.feedback import NO_CODE_RULE
from ctrl.stage import StageResult, materialize
from sandbox import JUDGE_VERSION
from storage import Store

log = logging.getLogger("ctrl.execute")

STAGE, TABLE = "execute", "executions"
VERSION = code_version("1+judge" + JUDGE_VERSION, __name__, "ctrl.feedback")
TEST_SETS = ("public", "private")
NO_TESTS = "no_tests"  # status and judge_rule of a test set without cases
ISOLATIONS = ("auto", "firejail", "none")

CASE_TYPE = pa.struct([("status", pa.string()), ("time_ms", pa.float64()),
                       ("stdout", pa.string()), ("stderr", pa.string()),
                       ("input", pa.string()), ("expected", pa.string())])
EXECUTION_SCHEMA = pa.schema([
    ("rollout_id", pa.string()), ("problem_id", pa.string()), ("model", pa.string()),
    ("test_set", pa.string()), ("passed", pa.bool_()), ("n_cases", pa.int32()),
    ("n_passed", pa.int32()), ("status", pa.string()), ("cases", pa.list_(CASE_TYPE)),
    ("isolation", pa.string()), ("judge_rule", pa.string()),
])


class SandboxFailure(UserError, RuntimeError):
    """Too many executions ended in ``sandbox_error``: the sandbox, not the code, is broken
    (``ctrl execute`` exits 3, as when the sandbox is unavailable)."""

    exit_code = 3


@dataclasses.dataclass(frozen=True)
class ExecuteConfig:
    """How rollouts are executed. ``workers`` does not change results and is not in the key."""

    test_sets: tuple[str, ...] = doc("test sets to run, any of ('public', 'private')",
                                     ("public", "private"))
    isolation: str = doc("sandbox isolation: 'auto' (firejail when available), 'firejail' "
                         "(fail when unavailable) or 'none' (trusted code only)", "auto")
    workers: int | None = doc("parallel sandbox processes; None = the sandbox's default "
                              "(CPU count)", None)
    time_limit_s: float | None = doc("per-case time limit overriding the problem's; None = "
                                     "use the problem's time_limit_s", None)
    memory_mb: int | None = doc("memory limit overriding the problem's; None = the problem's", None)
    max_sandbox_error_frac: float = doc("fail when more than this fraction of executions are "
                                        "sandbox errors", 0.05)
    shard_size: int = doc("rollouts per output shard (the unit of resume)", 64)

    def __post_init__(self) -> None:
        bad = [t for t in self.test_sets if t not in TEST_SETS]
        if bad or not self.test_sets:
            raise ConfigError(f"ExecuteConfig.test_sets: got {list(self.test_sets)}; use a "
                              f"non-empty subset of {TEST_SETS}, e.g. --test-sets public,private")
        if self.isolation not in ISOLATIONS:
            raise ConfigError(f"ExecuteConfig.isolation: {self.isolation!r} is not one of "
                              f"{ISOLATIONS}")
        if not 0.0 <= self.max_sandbox_error_frac <= 1.0:
            raise ConfigError("ExecuteConfig.max_sandbox_error_frac must lie in [0, 1]")
        if self.workers is not None and self.workers < 1:
            raise ConfigError("ExecuteConfig.workers must be >= 1 (or None for the default)")
        if self.shard_size < 1:
            raise ConfigError("ExecuteConfig.shard_size must be >= 1")

    def key_config(self) -> dict[str, Any]:
        """The config as stored and hashed: everything but ``workers`` (speed only)."""
        d = to_dict(self)
        d.pop("workers")
        return d


# ---------------------------------------------------------------- rows


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _case(c: dict) -> dict:
    return {"status": c.get("status"), "time_ms": float(c.get("time_ms") or 0.0),
            "stdout": _text(c.get("stdout")), "stderr": _text(c.get("stderr")),
            "input": _text(c.get("input")), "expected": _text(c.get("expected"))}


def _count_cases(tests: dict) -> int:
    return 1 if tests.get("kind") == "program" else len(tests.get("cases") or [])


def _base(rollout: dict, test_set: str) -> dict:
    return {"rollout_id": rollout["rollout_id"], "problem_id": rollout["problem_id"],
            "model": rollout.get("model"), "test_set": test_set}


def no_code_row(rollout: dict, test_set: str, n_cases: int) -> dict:
    """The executions row of a rollout with nothing to run."""
    why = rollout.get("skip_reason") or "no code found in the completion"
    return {**_base(rollout, test_set), "passed": False, "n_cases": n_cases, "n_passed": 0,
            "status": "syntax_error",
            "cases": [{"status": "syntax_error", "time_ms": 0.0, "stdout": "", "stderr": why,
                       "input": None, "expected": None}],
            "isolation": None, "judge_rule": NO_CODE_RULE}


def no_tests_row(rollout: dict, test_set: str) -> dict:
    """The row of a test set the problem has no cases in (e.g. HumanEval without examples):
    nothing to judge, so ``passed`` is NULL and pass rates leave it out."""
    return {**_base(rollout, test_set), "passed": None, "n_cases": 0, "n_passed": 0,
            "status": NO_TESTS, "cases": [], "isolation": None, "judge_rule": NO_TESTS}


def sandbox_error_row(rollout: dict, test_set: str, why: str) -> dict:
    """A row for an execution we could not carry out (our fault, not the candidate's)."""
    return {**_base(rollout, test_set), "passed": None, "n_cases": 0, "n_passed": 0,
            "status": "sandbox_error",
            "cases": [{"status": "sandbox_error", "time_ms": 0.0, "stdout": "", "stderr": why,
                       "input": None, "expected": None}],
            "isolation": None, "judge_rule": None}


def result_row(rollout: dict, test_set: str, result: dict, kind: str) -> dict:
    """The executions row from one sandbox judge result."""
    cases = [_case(c) for c in result.get("cases") or []]
    statuses = [c["status"] for c in cases]
    if "sandbox_error" in statuses or result.get("status") == "sandbox_error":
        status, passed = "sandbox_error", None
    else:
        status = next((s for s in statuses if s != "pass"), "pass")
        passed = bool(result.get("passed"))
    return {**_base(rollout, test_set), "passed": passed,
            "n_cases": int(result.get("n_cases", len(cases))),
            "n_passed": int(result.get("n_passed", statuses.count("pass"))), "status": status,
            "cases": cases, "isolation": result.get("isolation"),
            "judge_rule": result.get("judge_rule") or f"sandbox:{kind}"}


def _has_code(rollout: dict) -> bool:
    code = rollout.get("code")
    return bool(rollout.get("code_found", True)) and bool(code and code.strip()) \
        and not rollout.get("skip_reason")


def execute_chunk(chunk: list[dict], problems: dict[str, dict], config: ExecuteConfig,
                  ) -> tuple[list[dict], int]:
    """Executions rows for a list of rollouts, and the number of cases judged."""
    from sandbox import judge

    rows: dict[tuple[str, str], dict] = {}
    items, meta = [], {}
    for r in chunk:
        p = problems[r["problem_id"]]
        for ts in config.test_sets:
            try:
                tests = json.loads(p[f"{ts}_tests"])
            except (TypeError, json.JSONDecodeError) as e:
                rows[(r["rollout_id"], ts)] = sandbox_error_row(
                    r, ts, f"problem {p['problem_id']}: {ts}_tests is not valid JSON ({e}); "
                           "re-ingest the problem")
                continue
            if _count_cases(tests) == 0:
                rows[(r["rollout_id"], ts)] = no_tests_row(r, ts)
                continue
            if not _has_code(r):
                rows[(r["rollout_id"], ts)] = no_code_row(r, ts, _count_cases(tests))
                continue
            item_id = f"{r['rollout_id']}|{ts}"
            meta[item_id] = (r, ts, tests.get("kind"))
            items.append({"id": item_id, "code": r["code"], "tests": tests,
                          "time_limit_s": config.time_limit_s or p.get("time_limit_s") or 10.0,
                          "memory_mb": config.memory_mb or p.get("memory_mb") or 1024})
    n_judged = 0
    if items:
        results = judge(items, workers=config.workers, isolation=config.isolation)
        for res in results:
            r, ts, kind = meta[res["id"]]
            rows[(r["rollout_id"], ts)] = result_row(r, ts, res, kind)
            n_judged += len(res.get("cases") or [])
        missing = set(meta) - {res["id"] for res in results}
        for item_id in sorted(missing):
            r, ts, _ = meta[item_id]
            rows[(r["rollout_id"], ts)] = sandbox_error_row(r, ts, "the sandbox returned no "
                                                            "result for this item")
    order = [(r["rollout_id"], ts) for r in chunk for ts in config.test_sets]
    return [rows[k] for k in order], n_judged


# ---------------------------------------------------------------- stage


def _load_problems(store: Store, key: str, ids: set[str]) -> dict[str, dict]:
    cols = ["problem_id", "public_tests", "private_tests", "time_limit_s", "memory_mb"]
    table = store.read_table("problems", key, columns=cols).to_pylist()
    found = {p["problem_id"]: p for p in table if p["problem_id"] in ids}
    missing = sorted(ids - set(found))
    if missing:
        raise ConfigError(f"{len(missing)} rollout problem(s) are not in problems artifact {key}, "
                             f"e.g. {missing[:3]}; pass the problems key the rollouts were made from "
                             "(--problems KEY; see `ctrl runs`)")
    return found


def resolve_problems_key(store: Store, rollouts: str) -> str:
    """The problems artifact a rollouts artifact was made from (its manifest's input)."""
    key = store.read_manifest("rollouts", rollouts).get("inputs", {}).get("problems")
    if not key:
        raise ConfigError(f"rollouts {rollouts} does not record its problems artifact; pass "
                             "--problems KEY (see `ctrl runs`)")
    return key


def run(store: Store, config: ExecuteConfig, *, rollouts: str, problems: str | None = None,
        ) -> StageResult:
    """Materialize the executions of rollouts artifact ``rollouts``.

    Args:
        store: the artifact store.
        config: the ExecuteConfig.
        rollouts: key of the rollouts artifact.
        problems: key of the problems artifact; default: the one the rollouts were made from.

    Returns:
        The StageResult; ``metrics`` holds the summary (see ``summarize``).
    """
    problems = problems or resolve_problems_key(store, rollouts)
    state = {"cases": 0, "execs": 0, "sandbox": 0, "t0": time.monotonic()}
    cache: dict[str, dict] = {}

    def items() -> list[dict]:
        rows = store.read_table("rollouts", rollouts).to_pylist()
        rows.sort(key=lambda r: r["rollout_id"])
        cache.update(_load_problems(store, problems, {r["problem_id"] for r in rows}))
        return rows

    def process(chunk: list[dict]) -> list[dict]:
        rows, n = execute_chunk(chunk, cache, config)
        state["cases"] += n
        state["execs"] += len(rows)
        state["sandbox"] += sum(r["status"] == "sandbox_error" for r in rows)
        if state["sandbox"] > config.max_sandbox_error_frac * state["execs"]:
            bad = next(r for r in rows if r["status"] == "sandbox_error")
            raise SandboxFailure(
                f"{state['sandbox']} of {state['execs']} executions were sandbox errors (limit "
                f"{config.max_sandbox_error_frac:.0%}); e.g. rollout {bad['rollout_id']}: "
                f"{bad['cases'][0]['stderr'][-300:]!r}. Check `python -m sandbox judge` on that "
                "item (firejail installed? --isolation none for trusted code), then re-run: "
                "finished shards are kept")
        return rows

    def rate() -> dict[str, float]:
        return {"cases/s": state["cases"] / max(time.monotonic() - state["t0"], 1e-9)}

    result = materialize(store, stage=STAGE, table=TABLE, version=VERSION,
                         config=config.key_config(),
                         inputs={"rollouts": rollouts, "problems": problems}, items=items,
                         process=process, shard_size=config.shard_size,
                         schema=EXECUTION_SCHEMA, desc="execute", postfix=rate)
    result.metrics = summarize(store.read_table(TABLE, result.key))
    if not result.cached and state["cases"]:
        result.metrics["cases_per_s"] = round(rate()["cases/s"], 2)
    m = result.metrics
    log.info("executions %s: %d rows, pass rates %s, sandbox errors %d, isolation %s",
             result.key, result.rows, m["pass_rate"], m["sandbox_errors"], m["isolation"])
    return result


# ---------------------------------------------------------------- summary and CLI


def summarize(table: pa.Table) -> dict[str, Any]:
    """Pass rates per test set (and per model), status counts, sandbox errors, isolation used.

    Pass rates exclude sandbox-error rows, which are counted on their own.
    """
    rows = table.select(["model", "test_set", "passed", "status", "isolation"]).to_pylist()
    out: dict[str, Any] = {"executions": len(rows),
                           "sandbox_errors": sum(r["status"] == "sandbox_error" for r in rows),
                           "status_counts": dict(collections.Counter(r["status"] for r in rows)),
                           "isolation": sorted({r["isolation"] for r in rows if r["isolation"]})}
    groups: dict[tuple[str, str], list[bool]] = collections.defaultdict(list)
    for r in rows:
        if r["passed"] is not None:
            groups[("*", r["test_set"])].append(r["passed"])
            groups[(r["model"] or "?", r["test_set"])].append(r["passed"])
    out["pass_rate"] = {f"{m}/{ts}": round(sum(v) / len(v), 4)
                        for (m, ts), v in sorted(groups.items())}
    return out


def print_summary(result: StageResult) -> None:
    """A short human summary of an executions artifact."""
    m = result.metrics
    print(f"executions {result.key}: {result.rows} rows{' (cached)' if result.cached else ''}"
          + (f", {m['cases_per_s']} cases/s" if "cases_per_s" in m else ""))
    for name, rate in m["pass_rate"].items():
        print(f"  pass rate {name:<40} {rate:6.1%}")
    print("  status: " + ", ".join(f"{k}={v}" for k, v in sorted(m["status_counts"].items())))
    print(f"  sandbox errors: {m['sandbox_errors']} (excluded from pass rates); "
          f"isolation: {', '.join(m['isolation']) or '-'}")
    print(f"  query: ctrl sql \"SELECT * FROM executions WHERE artifact = '{result.key}'\"")


def _cmd(args: argparse.Namespace) -> int:
    from ctrl import cli_args, reference

    config = cli_args.build_config(args, ExecuteConfig)  # bad options fail before any work
    ref_config = cli_args.build_config(args, reference.ReferenceConfig, dest="ref_")
    store = Store()
    rollouts, problems = args.rollouts, args.problems
    if args.reference:
        problems = problems or store.latest_key("problems")
        if not problems:
            raise ConfigError(f"--reference: no problems artifact in {store.root}; "
                              "run `ctrl ingest --source mbpp` first or pass --problems KEY")
        ref = reference.run(store, ref_config, problems=problems)
        cached = " (cached)" if ref.cached else ""
        print(f"rollouts {ref.key}: {ref.rows} reference rollouts{cached}"
              f" {reference.summary(store, ref.key)}")
        rollouts = ref.key
    if not rollouts:
        rollouts = store.latest_key("rollouts")
        if not rollouts:
            raise ConfigError(f"no rollouts artifact in {store.root}; pass --rollouts KEY, "
                              "or --problems KEY --reference (see `ctrl runs`)")
        print(f"using the newest rollouts artifact {rollouts}")
    # SandboxUnavailable and SandboxFailure reach ctrl.cli: one line, exit 3
    result = run(store, config, rollouts=rollouts, problems=problems)
    print_summary(result)
    return 0


def add_parser(subparsers: Any) -> None:
    """``ctrl execute``: run rollouts on their problems' tests in the sandbox."""
    from ctrl import cli_args, reference

    p = subparsers.add_parser("execute", help="run rollouts on their tests in the sandbox "
                              "(writes `executions`)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rollouts", help="rollouts artifact key (default: the newest)")
    p.add_argument("--problems", help="problems artifact key (default: the rollouts' input)")
    cli_args.add_config(p, ExecuteConfig)
    g = p.add_argument_group("reference rollouts (--reference)")
    g.add_argument("--reference", action="store_true",
                   help="first make canonical + broken rollouts from --problems, then execute them")
    # its shard_size is not an option: --shard-size is the executions' own
    cli_args.add_config(p, reference.ReferenceConfig, dest="ref_", group=g, skip=("shard_size",))
    p.set_defaults(func=_cmd)
