"""The step registry is the one list of stages: everything else is derived from it or checked
against it (prefect.yaml, CLI commands, catalog hints, presets); the DAG selects what ``--until``
needs and runs independent branches at the same time."""

from __future__ import annotations

import dataclasses
import inspect
import threading

import pytest
import yaml

from ctrl import pipeline, presets, registry
from ctrl.config import ConfigError, doc
from ctrl.stage import StageResult

from conftest import REPO


def test_prefect_yaml_gpu_deployments_match_the_registry():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    gpu = sorted(d["entrypoint"] for d in spec if "gpu" in (d.get("tags") or []))
    assert gpu == sorted(f"flows/stage.py:{s.name}" for s in registry.STAGES if s.gpu), \
        "prefect.yaml's gpu deployments differ from the registry's GPU stages: edit prefect.yaml"
    from flows import stage as flows_stage

    for entry in gpu:  # every entry point resolves to the stage's flow
        attr = entry.split(":")[1]
        assert getattr(flows_stage, attr).name == f"ctrl-{attr}"


def test_every_step_wires_real_run_arguments_and_earlier_steps():
    seen = set()
    for s in registry.STEPS:
        params = inspect.signature(s.stage.run).parameters
        for arg in s.inputs:
            assert arg in params, f"{s.name}: {s.stage.module}.run has no argument {arg!r}"
        assert set(s.deps) <= seen, f"{s.name} reads a later step"
        for v in s.variants.values():
            assert set(s.inputs) <= set(inspect.signature(v.run).parameters)
        seen.add(s.name)
        assert dataclasses.is_dataclass(s.stage.config) and s.stage.version


def test_cli_commands_and_catalog_hints_come_from_the_registry():
    from ctrl.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in registry.commands():
        assert command in sub.choices, f"ctrl {command} is not a subcommand"
    hints = registry.producers()
    for s in registry.STAGES:
        for t in s.outputs:
            assert t == "model" or t in hints


def test_presets_name_only_registry_steps():
    for name in presets.names():
        assert set(presets.get(name)) <= set(registry.STEP_NAMES), name


def test_until_runs_the_step_and_its_ancestors_only():
    names = [s.name for s, _ in pipeline.plan("tiny", "eval-execute").steps]
    assert names == ["eval-ingest", "eval-rollout", "eval-execute"]  # no training side
    assert registry.ancestors("sft-eval") >= {"sft", "eval-execute", "ingest"}
    full = [s.name for s, _ in pipeline.plan("tiny").steps]
    assert full == registry.STEP_NAMES
    with pytest.raises(ConfigError, match="valid stages"):
        pipeline.plan("tiny", "rolout")


def test_a_step_runs_alone_on_given_input_keys(store):
    first = pipeline.run(store, pipeline.plan("tiny", "ingest"))
    p = pipeline.plan("tiny", "rollout", {"rollout": {"variant": "reference"}},
                      given={"ingest": first["ingest"].key})
    assert [s.name for s, _ in p.steps] == ["rollout"]
    out = pipeline.run(store, p)
    assert list(out) == ["rollout"] and out["rollout"].rows == 6
    assert store.read_manifest("rollouts", out["rollout"].key)["inputs"] == \
        {"problems": first["ingest"].key}


@dataclasses.dataclass(frozen=True)
class _Cfg:
    n: int = doc("a number", 1)


def test_independent_steps_run_at_the_same_time(store):
    """Two steps with no edge between them must overlap: each waits for the other at a barrier
    (a sequential runner times the barrier out), and the step reading both runs after them."""
    barrier, order = threading.Barrier(2, timeout=30), []

    def branch(store, config):
        barrier.wait()
        order.append("branch")
        return StageResult("t", f"k{id(config)}", 0, True, {})

    def join(store, config, a, b):
        order.append(("join", a, b))
        return StageResult("t", "kj", 0, True, {})

    stage_b = registry.Stage("b", branch, _Cfg, ("t",))
    stage_j = registry.Stage("j", join, _Cfg, ("t",))
    steps = [registry.Step("a", stage_b), registry.Step("b", stage_b),
             registry.Step("j", stage_j, {"a": "a", "b": "b"})]
    cfgs = [_Cfg(1), _Cfg(2), _Cfg(3)]
    p = pipeline.Plan("custom", "j", list(zip(steps, cfgs)))
    out = pipeline.run(store, p, max_parallel=2)
    assert order[:2] == ["branch", "branch"]
    assert order[2] == ("join", out["a"].key, out["b"].key)
    with pytest.raises(threading.BrokenBarrierError):  # one at a time cannot pass the barrier
        barrier.reset()
        barrier._timeout = 1
        pipeline.run(store, p, max_parallel=1)


def test_generating_stages_share_one_nested_generation_config():
    import typing

    from ctrl.cli import build_parser
    from ctrl.generation import GenerationConfig

    for s in (registry.ROLLOUT, registry.CRITIQUE, registry.REVISE, registry.EVALUATE):
        assert typing.get_type_hints(s.config)["generation"] is GenerationConfig, s.name
        assert not {"temperature", "max_new_tokens", "model"} & {
            f.name for f in dataclasses.fields(s.config)}, f"{s.name} copies generation fields"
    # the same settings reach each stage from the CLI, nested or by their leaf name
    args = build_parser().parse_args(["rollout", "--temperature", "0.2", "--max-new-tokens", "9"])
    from ctrl import cli_args

    cfg = cli_args.build_config(args, registry.ROLLOUT.config)
    assert (cfg.generation.temperature, cfg.generation.max_new_tokens) == (0.2, 9)
    cfg = pipeline.plan("tiny", "revise", {"revise": {"generation.temperature": 0.3}}).steps[-1][1]
    assert cfg.generation.temperature == 0.3 and cfg.generation.max_new_tokens == 16  # preset kept
