"""The step registry: every stage and every pipeline step, as real objects, in one place.

Everything that used to list the stages by hand is derived from this module: the pipeline DAG
and ``ctrl run --until`` (``ctrl.pipeline``), the Prefect tasks, stage flows and GPU deployments
(``flows/stages.py``; ``prefect.yaml`` is checked against it by ``tests/test_registry.py``), preset
validation (``ctrl.presets``), the ``ctrl`` subcommands (``ctrl.cli``), the report's sections
(``ctrl.report``) and the catalog's hints about which command produces a table.

Two kinds of object:
- a ``Stage`` is an implementation: ``run(store, config, **input_keys) -> StageResult`` plus its
  frozen config class, the tables (or ``model``) it writes, whether it wants a GPU, and its CLI
  command. Its code version (``VERSION`` of its module, see ``ctrl.fingerprint``) is part of
  every key it writes.
- a ``Step`` is a node of the pipeline DAG: a stage wired to earlier steps by name. One stage may
  serve several steps (``rollout`` and ``eval-rollout``).

Adding a stage: write its module (``run`` + config class + ``VERSION``), add one ``Stage`` and its
``Step`` here, and its test. Nothing else lists stages.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from typing import Any, Callable

from ctrl.config import ConfigError
from storage.catalog import register_producers


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage implementation.

    Attributes:
        name: the stage's name: Prefect task name, stage flow ``ctrl-<name>``, GPU deployment
            ``ctrl-<name>/gpu``.
        run: ``run(store, config, **input_keys) -> StageResult``.
        config: its frozen config dataclass.
        outputs: the tables it writes (``"model"`` for a model artifact).
        gpu: it wants a GPU (a separate deployment on the GPU work pool, when one is configured).
        command: its ``ctrl`` subcommand (defined by ``add_parser`` in its module), or None.
    """

    name: str
    run: Callable[..., Any]
    config: type
    outputs: tuple[str, ...]
    gpu: bool = False
    command: str | None = None

    @property
    def module(self) -> str:
        return self.run.__module__

    @property
    def version(self) -> str:
        """The code version in its keys (hand-kept number + fingerprint of its code)."""
        return str(getattr(sys.modules[self.module], "VERSION", ""))


@dataclasses.dataclass(frozen=True)
class Step:
    """One node of the pipeline DAG.

    Attributes:
        name: ``--until`` value, preset key, Prefect task run name.
        stage: the default implementation.
        inputs: ``run`` keyword -> the earlier step whose artifact key it receives, or
            ``=value`` for a constant (``critic="=self"``: the generator critiques itself).
        label: what the step is, for reports and ``ctrl run --list``.
        variants: other implementations, chosen by the preset key ``variant`` (e.g.
            ``rollout.variant = "reference"``: canonical and broken solutions, no model).
    """

    name: str
    stage: Stage
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)
    label: str = ""
    variants: dict[str, Stage] = dataclasses.field(default_factory=dict)

    @property
    def deps(self) -> list[str]:
        """The steps this one reads from (in its inputs' order, no duplicates)."""
        return list(dict.fromkeys(d for d in self.inputs.values() if not d.startswith("=")))

    @property
    def gpu(self) -> bool:
        return self.stage.gpu

    def variant(self, source: str | None) -> "Step":
        """This step implemented by variant ``source`` (None, "" or "default": itself)."""
        if not source or source == "default":
            return self
        if source not in self.variants:
            raise ConfigError(f"stage {self.name!r}: unknown variant {source!r}; valid variants are "
                              f"{['default', *self.variants]}")
        return dataclasses.replace(self, stage=self.variants[source], variants={})


def _stage(module: str, name: str, config: str, outputs: tuple[str, ...], **kw: Any) -> Stage:
    mod = importlib.import_module(module)
    return Stage(name, mod.run, getattr(mod, config), outputs, **kw)


INGEST = _stage("ctrl.ingest", "ingest", "IngestConfig", ("problems", "quarantine"), command="ingest")
ROLLOUT = _stage("ctrl.rollout", "rollout", "RolloutConfig", ("rollouts",), gpu=True, command="rollout")
REFERENCE = _stage("ctrl.reference", "reference", "ReferenceConfig", ("rollouts",))
EXECUTE = _stage("ctrl.execute", "execute", "ExecuteConfig", ("executions",), command="execute")
CRITIQUE = _stage("ctrl.critique", "critique", "CritiqueConfig", ("critiques",), gpu=True,
                  command="synthesize")
REVISE = _stage("ctrl.revise", "revise", "ReviseConfig", ("revisions",), gpu=True, command="revise")
SFT = _stage("ctrl.sft", "sft", "SFTConfig", ("model", "sft_examples"), gpu=True, command="sft")
EVALUATE = _stage("ctrl.evaluate", "evaluate", "EvalConfig", ("eval_results",), gpu=True, command="eval")

STAGES: list[Stage] = [INGEST, ROLLOUT, REFERENCE, EXECUTE, CRITIQUE, REVISE, SFT, EVALUATE]

_EVAL_INPUTS = {"problems": "eval-ingest", "rollouts": "eval-rollout", "executions": "eval-execute"}
STEPS: list[Step] = [
    # training side: problems -> samples -> verdicts -> critiques -> (revisions) -> critic
    Step("ingest", INGEST, label="training problems"),
    Step("rollout", ROLLOUT, {"problems": "ingest"}, "generator samples",
         variants={"reference": REFERENCE}),
    Step("execute", EXECUTE, {"rollouts": "rollout", "problems": "ingest"}, "sandbox verdicts"),
    Step("critique", CRITIQUE, {"rollouts": "rollout", "executions": "execute", "problems": "ingest"},
         "critiques synthesized from execution feedback"),
    Step("revise", REVISE, {"critiques": "critique", "problems": "ingest", "rollouts": "rollout"},
         "revisions from the synthesized critiques"),
    Step("sft", SFT, {"critiques": "critique", "problems": "ingest", "rollouts": "rollout"},
         "SFT critic"),
    # evaluation side: a held-out split, never trained on; independent of the training side
    Step("eval-ingest", INGEST, label="held-out problems"),
    Step("eval-rollout", ROLLOUT, {"problems": "eval-ingest"}, "held-out generator samples",
         variants={"reference": REFERENCE}),
    Step("eval-execute", EXECUTE, {"rollouts": "eval-rollout", "problems": "eval-ingest"},
         "held-out sandbox verdicts"),
    Step("base-eval", EVALUATE, {**_EVAL_INPUTS, "critic": "=self"},
         "untrained (generator critiques itself)"),
    Step("sft-eval", EVALUATE, {**_EVAL_INPUTS, "critic": "sft"}, "SFT critic"),
]
STEP_NAMES = [s.name for s in STEPS]
# the retraining flow: the step that trains (resumable via its config field RESUME_FIELD)
TRAIN_STEP, RESUME_FIELD = "sft", "resume_from"


def step(name: str) -> Step:
    """The step called ``name``; an unknown name raises ConfigError listing the valid ones."""
    for s in STEPS:
        if s.name == name:
            return s
    raise ConfigError(f"unknown stage {name!r}; valid stages are {STEP_NAMES}")


def stage(name: str) -> Stage:
    """The stage implementation called ``name``."""
    for s in STAGES:
        if s.name == name:
            return s
    raise ConfigError(f"unknown stage implementation {name!r}; valid ones are "
                      f"{[s.name for s in STAGES]}")


def ancestors(name: str) -> set[str]:
    """Every step ``name`` depends on, directly or not (not ``name`` itself)."""
    out: set[str] = set()
    todo = list(step(name).deps)
    while todo:
        d = todo.pop()
        if d not in out:
            out.add(d)
            todo.extend(step(d).deps)
    return out


def steps_of(stage_: Stage) -> list[Step]:
    """The steps a stage serves, in pipeline order (e.g. EVALUATE: base-eval, sft-eval)."""
    return [s for s in STEPS if s.stage is stage_]


def commands() -> dict[str, str]:
    """``ctrl`` subcommand -> the module that defines it (``add_parser``), for every stage."""
    return {s.command: s.module for s in STAGES if s.command}


def producers() -> dict[str, str]:
    """Table -> the command that writes it (the catalog's hint for a table with no artifacts)."""
    out: dict[str, str] = {}
    for s in STAGES:
        for t in s.outputs:
            if t != "model" and t not in out:
                out[t] = f"ctrl {s.command}" if s.command else f"the {s.name} stage (ctrl run)"
    return out


def _check() -> None:
    """Registry invariants, at import: a broken registry fails every command with the reason."""
    names = set()
    for s in STEPS:
        if s.name in names:
            raise ConfigError(f"registry: step {s.name!r} is listed twice")
        for d in s.deps:
            if d not in names:
                raise ConfigError(f"registry: step {s.name!r} reads {d!r}, which is not an "
                                  "earlier step; list steps in dependency order")
        names.add(s.name)


_check()
register_producers(producers())
