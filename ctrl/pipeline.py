"""The pipeline's order of stages, without Prefect: what runs after what, fed by which keys.

Reads: the preset (``ctrl.presets``) and each stage's config class. Writes: nothing itself;
each stage materializes its own artifact through ``storage``. Used by the Prefect flow ``ctrl``
(``flows/pipeline.py``, one task per stage) and by ``ctrl run`` (in-process, no server):

    ctrl run --preset default --until sft-eval
    ctrl run --preset tiny --until execute --set ingest.limit=5
    ctrl run --list-presets

Stages pass artifact keys only, never data: step ``rollout`` gets ``problems=<key of ingest>``.
Re-running with the same preset and overrides is a cache hit at every stage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Callable

from ctrl import registry
from ctrl.config import ConfigError, from_dict, to_dict
from ctrl.presets import DESCRIPTIONS, get, merge, names, parse_set
from storage import artifact_key

log = logging.getLogger("ctrl.pipeline")
PIPELINE_VERSION = "1"


ALL = "all"  # Plan.until when every step runs
# The registry is the one list of stages and steps (re-exported: ``pipeline.step`` etc.).
Step, STEPS, STEP_NAMES, step, ancestors = (registry.Step, registry.STEPS, registry.STEP_NAMES,
                                             registry.step, registry.ancestors)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A resolved run: the steps to run, each with its config object and source variant."""

    preset: str
    until: str
    steps: list[tuple[Step, Any]]
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    given: dict[str, str] = dataclasses.field(default_factory=dict)

    def configs(self) -> dict[str, dict[str, Any]]:
        return {s.name: {**to_dict(cfg), **({"variant": self.sources[s.name]}
                                            if s.name in self.sources else {})}
                for s, cfg in self.steps}


def select(until: str | None = None, given: dict[str, str] | None = None) -> list[Step]:
    """The steps that ``--until`` needs: ``until`` and its ancestors, in registry (topological)
    order, minus the steps whose keys are ``given`` (and what only they needed)."""
    given = dict(given or {})
    for g in given:
        step(g)  # unknown names are rejected with the valid ones
    if not until:  # the whole DAG
        return [s for s in STEPS if s.name not in given]
    until = step(until).name
    need, todo = set(), [until]
    while todo:
        n = todo.pop()
        if n in need or (n in given and n != until):
            continue
        need.add(n)
        todo.extend(step(n).deps)
    return [s for s in STEPS if s.name in need]


def plan(preset: str = "default", until: str | None = None,
         overrides: dict[str, dict[str, Any]] | None = None,
         given: dict[str, str] | None = None) -> Plan:
    """Resolve a preset plus overrides into config objects for ``until`` and its ancestors.

    Args:
        preset: a preset name (``ctrl.presets``).
        until: the step to reach; only it and what it depends on run (default: every step).
        overrides: step -> {config field: value}, layered over the preset.
        given: step -> an existing artifact key: that step is not run, its key is used
            (run one step alone on given inputs, e.g. ``{"ingest": KEY}`` for ``rollout``).

    Raises:
        ConfigError: unknown preset, stage or field, or a value a stage config rejects; the
            message names the valid choices.
    """
    resolved = merge(get(preset), overrides)
    steps, sources = [], {}
    for base in select(until, given):
        fields = dict(resolved.get(base.name, {}))
        source = fields.pop("variant", None)
        s = base.variant(source)
        if source and s is not base:
            sources[s.name] = source
        try:
            cfg = from_dict(s.stage.config, fields)
        except (ConfigError, TypeError, ValueError) as e:
            raise ConfigError(f"stage {s.name!r} (preset {preset!r}): {e}") from e
        steps.append((s, cfg))
    return Plan(preset, step(until).name if until else ALL, steps, sources, dict(given or {}))


def run_step(store: Any, s: Step, config: Any, keys: dict[str, str]) -> Any:
    """Run one stage with the keys of the steps it reads; returns its StageResult."""
    return s.stage.run(store, config, **input_keys(s, keys))


def input_keys(s: Step, keys: dict[str, str]) -> dict[str, str]:
    """The ``run`` keyword arguments of step ``s``, from the keys of earlier steps."""
    missing = [d for d in s.inputs.values() if not d.startswith("=") and d not in keys]
    if missing:
        raise ConfigError(f"stage {s.name!r} needs the output of {missing}; run those first")
    return {arg: d[1:] if d.startswith("=") else keys[d] for arg, d in s.inputs.items()}


def run_key(p: Plan, keys: dict[str, str]) -> str:
    """The key of a whole pipeline run: its configs plus every stage's artifact key."""
    return artifact_key("pipeline", PIPELINE_VERSION, p.configs(), keys)


def run(store: Any, p: Plan, on_result: Callable[[Step, Any], None] | None = None,
        max_parallel: int = 2) -> dict[str, Any]:
    """Run the plan in this process; returns step name -> StageResult (in plan order).

    Independent steps (the evaluation branch beside training) run concurrently, at most
    ``max_parallel`` at a time; a step starts once every step it reads has finished.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    cfgs = {s.name: cfg for s, cfg in p.steps}
    by_name = {s.name: s for s, _ in p.steps}
    results: dict[str, Any] = {}
    keys: dict[str, str] = dict(p.given)
    pending, running = [s.name for s, _ in p.steps], {}
    with ThreadPoolExecutor(max_workers=max(1, max_parallel), thread_name_prefix="ctrl-step") as ex:
        while pending or running:
            for n in [n for n in pending if all(d in keys for d in by_name[n].deps)]:
                if len(running) >= max(1, max_parallel):
                    break
                pending.remove(n)
                running[ex.submit(run_step, store, by_name[n], cfgs[n], dict(keys))] = n
            if not running:
                raise ConfigError(f"steps {pending} wait on steps not in the plan")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                n = running.pop(fut)
                res = fut.result()  # a failed step stops the run (its finished shards are kept)
                results[n], keys[n] = res, res.key
                log.info("%s: %s %s (%d rows)", n, "cached" if res.cached else "built", res.key,
                         res.rows)
                if on_result:
                    on_result(by_name[n], res)
    return {n: results[n] for n in cfgs}


RESUME_FIELD, TRAIN_STEP = registry.RESUME_FIELD, registry.TRAIN_STEP


def newest_model(store: Any, stage: str = TRAIN_STEP) -> str | None:
    """The key of the newest complete model artifact written by ``stage``, or None."""
    models = [m for m in store.manifests("model") if m.get("stage") == stage]
    return models[-1]["key"] if models else None  # manifests() is oldest first


def with_resume(store: Any, overrides: dict[str, dict[str, Any]] | None
                ) -> dict[str, dict[str, Any]]:
    """``overrides`` with ``sft.resume_from`` set to the newest sft checkpoint (if any).

    An explicit ``sft.resume_from`` in ``overrides`` wins.
    """
    out = {k: dict(v) for k, v in (overrides or {}).items()}
    newest = newest_model(store)
    if newest and RESUME_FIELD not in out.get(TRAIN_STEP, {}):
        out.setdefault(TRAIN_STEP, {})[RESUME_FIELD] = newest
    return out


def retrain_needed(store: Any, critiques: str) -> tuple[str | None, bool]:
    """(newest sft model, whether to train): no training when that model already learned from
    exactly these critiques (no new problems or rollouts since the last retraining)."""
    newest = newest_model(store)
    if newest is None:
        return None, True
    seen = (store.read_model_manifest(newest).get("inputs") or {}).get("critiques")
    return newest, seen != critiques


# ---- ctrl run -------------------------------------------------------------------------------

def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run the pipeline in this process (no Prefect server)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--preset", default="default", help=f"one of {names()} (default: default)")
    p.add_argument("--until", default=None,
                   help=f"run this step and the steps it depends on only, one of {STEP_NAMES} "
                   "(default: every step)")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                   help="override one config field, e.g. --set rollout.samples=2 (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="STEP=KEY",
                   help="use this artifact as step STEP's output instead of running it, e.g. "
                   "--until rollout --input ingest=KEY runs rollout alone (repeatable)")
    p.add_argument("--parallel", type=int, default=2,
                   help="independent steps run at the same time (default: 2)")
    p.add_argument("--no-report", action="store_true", help="skip the markdown report")
    p.add_argument("--list", action="store_true", help="print the steps (the DAG) and exit")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    p.set_defaults(func=_main)


def _main(args: Any) -> int:
    if args.list_presets:
        for n in names():
            print(f"{n:10s} {DESCRIPTIONS.get(n, '')}")
            print(f"{'':10s} {json.dumps(get(n), sort_keys=True)}")
        return 0
    if args.list:
        for s in STEPS:
            print(f"{s.name:12s} {s.stage.name:10s} <- {', '.join(s.deps) or '-':36s} {s.label}")
        return 0
    from storage import Store

    given = {}
    for item in args.input:
        name, sep, key = item.partition("=")
        if not sep or not name or not key:
            raise ConfigError(f"--input {item!r}: write STEP=KEY, e.g. --input ingest=0123abcd")
        given[name.strip()] = key.strip()
    p = plan(args.preset, args.until, parse_set(args.set), given)
    store = Store()
    results = run(store, p, max_parallel=args.parallel)
    keys = {**p.given, **{n: r.key for n, r in results.items()}}
    print(f"run {run_key(p, keys)} (preset {p.preset}, until {p.until}):")
    for n, r in results.items():
        print(f"  {n:12s} {r.table:12s} {r.key}  {r.rows:6d} rows  "
              f"{'cached' if r.cached else 'built'}")
    if not args.no_report:
        from ctrl import report

        path = report.write(store, run_key(p, keys), p, keys)
        print(f"report: {path}")
    return 0
