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
import importlib
import json
import logging
import sys
from typing import Any, Callable

from ctrl.config import ConfigError, from_dict, to_dict
from ctrl.presets import DESCRIPTIONS, get, merge, names, parse_set
from storage import artifact_key

log = logging.getLogger("ctrl.pipeline")
PIPELINE_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class Step:
    """One stage of the pipeline.

    Attributes:
        name: the step's name (``--until`` value, preset key, Prefect task/flow name).
        module: the ``ctrl`` module with ``run(store, config, **inputs)``.
        config_class: the name of its frozen config dataclass in ``module``.
        inputs: ``run`` keyword -> the earlier step whose artifact key it receives, or
            ``=value`` for a constant (e.g. ``critic="=self"``: the generator critiques itself).
        stage: the ``flows/<stage>.py`` module (task, GPU deployment ``ctrl-<stage>/gpu``).
        gpu: True when the stage wants a GPU (runs on the ``gpu`` work pool when configured).
        variants: other implementations of the step, chosen by the preset key ``variant``:
            name -> (module, config class). E.g. ``rollout.variant = "reference"`` makes
            rollouts from canonical solutions and broken variants, with no model (fast, tests).
    """

    name: str
    module: str
    config_class: str
    inputs: dict[str, str]
    stage: str = ""
    gpu: bool = False
    variants: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def variant(self, source: str | None) -> "Step":
        """This step implemented by variant ``source`` (None or "" = the default module)."""
        if not source or source == "default":
            return self
        if source not in self.variants:
            raise ConfigError(f"stage {self.name!r}: unknown variant {source!r}; valid variants are "
                              f"{['default', *self.variants]}")
        module, cls = self.variants[source]
        return dataclasses.replace(self, module=module, config_class=cls, gpu=False, variants={})

    def load(self) -> tuple[Callable[..., Any], type]:
        """The stage's ``run`` function and config class; a clear error if not built yet."""
        try:
            mod = importlib.import_module(self.module)
        except ModuleNotFoundError as e:
            if e.name != self.module:
                raise
            raise ConfigError(
                f"stage {self.name!r} is not available: module {self.module} is missing; "
                f"run with --until {self.before()} (or until=...) to stop before it"
            ) from e
        return mod.run, getattr(mod, self.config_class)

    def before(self) -> str:
        names = [s.name for s in STEPS]
        i = names.index(self.name) if self.name in names else 0
        return STEPS[i - 1].name if i else STEPS[0].name


STEPS: list[Step] = [
    # training side: problems -> samples -> verdicts -> critiques -> (revisions) -> critic
    Step("ingest", "ctrl.ingest", "IngestConfig", {}, "ingest"),
    Step("rollout", "ctrl.rollout", "RolloutConfig", {"problems": "ingest"}, "rollout", gpu=True,
         variants={"reference": ("ctrl.reference", "ReferenceConfig")}),
    Step("execute", "ctrl.execute", "ExecuteConfig",
         {"rollouts": "rollout", "problems": "ingest"}, "execute"),
    Step("critique", "ctrl.critique", "CritiqueConfig",
         {"rollouts": "rollout", "executions": "execute", "problems": "ingest"}, "critique",
         gpu=True),
    Step("revise", "ctrl.revise", "ReviseConfig",
         {"critiques": "critique", "problems": "ingest", "rollouts": "rollout"}, "revise",
         gpu=True),
    Step("sft", "ctrl.sft", "SFTConfig",
         {"critiques": "critique", "problems": "ingest", "rollouts": "rollout"}, "sft", gpu=True),
    # evaluation side: a held-out split, never trained on
    Step("eval-ingest", "ctrl.ingest", "IngestConfig", {}, "ingest"),
    Step("eval-rollout", "ctrl.rollout", "RolloutConfig", {"problems": "eval-ingest"}, "rollout",
         gpu=True, variants={"reference": ("ctrl.reference", "ReferenceConfig")}),
    Step("eval-execute", "ctrl.execute", "ExecuteConfig",
         {"rollouts": "eval-rollout", "problems": "eval-ingest"}, "execute"),
    Step("base-eval", "ctrl.evaluate", "EvalConfig",
         {"problems": "eval-ingest", "rollouts": "eval-rollout", "executions": "eval-execute",
          "critic": "=self"}, "evaluate", gpu=True),
    Step("sft-eval", "ctrl.evaluate", "EvalConfig",
         {"problems": "eval-ingest", "rollouts": "eval-rollout", "executions": "eval-execute",
          "critic": "sft"}, "evaluate", gpu=True),
]
STEP_NAMES = [s.name for s in STEPS]


def step(name: str) -> Step:
    for s in STEPS:
        if s.name == name:
            return s
    raise ConfigError(f"unknown stage {name!r}; valid stages are {STEP_NAMES}")


@dataclasses.dataclass(frozen=True)
class Plan:
    """A resolved run: the steps to run, each with its config object and source variant."""

    preset: str
    until: str
    steps: list[tuple[Step, Any]]
    sources: dict[str, str] = dataclasses.field(default_factory=dict)

    def configs(self) -> dict[str, dict[str, Any]]:
        return {s.name: {**to_dict(cfg), **({"variant": self.sources[s.name]}
                                            if s.name in self.sources else {})}
                for s, cfg in self.steps}


def plan(preset: str = "default", until: str | None = None,
         overrides: dict[str, dict[str, Any]] | None = None) -> Plan:
    """Resolve a preset plus overrides into config objects for every step up to ``until``.

    Raises:
        ConfigError: unknown preset, stage or field, or a value a stage config rejects; the
            message names the valid choices.
    """
    until = until or STEPS[-1].name
    last = STEP_NAMES.index(step(until).name)
    resolved = merge(get(preset), overrides)
    steps, sources = [], {}
    for base in STEPS[: last + 1]:
        fields = dict(resolved.get(base.name, {}))
        source = fields.pop("variant", None)
        s = base.variant(source)
        if source and s is not base:
            sources[s.name] = source
        _, cls = s.load()
        try:
            cfg = from_dict(cls, fields)
        except (ConfigError, TypeError, ValueError) as e:
            raise ConfigError(f"stage {s.name!r} (preset {preset!r}): {e}") from e
        steps.append((s, cfg))
    return Plan(preset, until, steps, sources)


def run_step(store: Any, s: Step, config: Any, keys: dict[str, str]) -> Any:
    """Run one stage with the keys of the steps it reads; returns its StageResult."""
    run, _ = s.load()
    return run(store, config, **input_keys(s, keys))


def input_keys(s: Step, keys: dict[str, str]) -> dict[str, str]:
    """The ``run`` keyword arguments of step ``s``, from the keys of earlier steps."""
    missing = [d for d in s.inputs.values() if not d.startswith("=") and d not in keys]
    if missing:
        raise ConfigError(f"stage {s.name!r} needs the output of {missing}; run those first")
    return {arg: d[1:] if d.startswith("=") else keys[d] for arg, d in s.inputs.items()}


def run_key(p: Plan, keys: dict[str, str]) -> str:
    """The key of a whole pipeline run: its configs plus every stage's artifact key."""
    return artifact_key("pipeline", PIPELINE_VERSION, p.configs(), keys)


def run(store: Any, p: Plan, on_result: Callable[[Step, Any], None] | None = None
        ) -> dict[str, Any]:
    """Run every step of ``p`` in order, in this process; returns step name -> StageResult."""
    results: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for s, cfg in p.steps:
        res = run_step(store, s, cfg, keys)
        results[s.name], keys[s.name] = res, res.key
        log.info("%s: %s %s (%d rows)", s.name, "cached" if res.cached else "built", res.key,
                 res.rows)
        if on_result:
            on_result(s, res)
    return results


RESUME_FIELD = "resume_from"  # the sft config field naming a checkpoint to continue from


def newest_model(store: Any, stage: str = "sft") -> str | None:
    """The key of the newest complete model artifact written by ``stage``, or None."""
    models = [m for m in store.manifests("model") if m.get("stage") == stage]
    return models[-1]["key"] if models else None  # manifests() is oldest first


def with_resume(store: Any, overrides: dict[str, dict[str, Any]] | None
                ) -> dict[str, dict[str, Any]]:
    """``overrides`` with ``sft.resume_from`` set to the newest sft checkpoint (if any).

    An explicit ``sft.resume_from`` in ``overrides`` wins.
    """
    out = {k: dict(v) for k, v in (overrides or {}).items()}
    newest = newest_model(store, "sft")
    if newest and RESUME_FIELD not in out.get("sft", {}):
        out.setdefault("sft", {})[RESUME_FIELD] = newest
    return out


def retrain_needed(store: Any, critiques: str) -> tuple[str | None, bool]:
    """(newest sft model, whether to train): no training when that model already learned from
    exactly these critiques (no new problems or rollouts since the last retraining)."""
    newest = newest_model(store, "sft")
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
    p.add_argument("--until", default=STEPS[-1].name,
                   help=f"last stage to run, one of {STEP_NAMES} (default: {STEPS[-1].name})")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                   help="override one config field, e.g. --set rollout.samples=2 (repeatable)")
    p.add_argument("--no-report", action="store_true", help="skip the markdown report")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    p.set_defaults(func=_main)


def _main(args: Any) -> int:
    if args.list_presets:
        for n in names():
            print(f"{n:10s} {DESCRIPTIONS.get(n, '')}")
            print(f"{'':10s} {json.dumps(get(n), sort_keys=True)}")
        return 0
    from storage import Store

    try:
        p = plan(args.preset, args.until, parse_set(args.set))
    except ConfigError as e:
        print(f"ctrl run: {e}", file=sys.stderr)
        return 2
    store = Store()
    results = run(store, p)
    keys = {n: r.key for n, r in results.items()}
    print(f"run {run_key(p, keys)} (preset {p.preset}, until {p.until}):")
    for n, r in results.items():
        print(f"  {n:12s} {r.table:12s} {r.key}  {r.rows:6d} rows  "
              f"{'cached' if r.cached else 'built'}")
    if not args.no_report:
        from ctrl import report

        path = report.write(store, run_key(p, keys), p, keys)
        print(f"report: {path}")
    return 0
