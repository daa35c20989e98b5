"""User errors: every ``ctrl`` command given a typical bad input prints one line and exits 2
(sandbox unavailable: 3); bugs keep their traceback. And the typed parsing behind the options.

Fast by design: every bad input is rejected before any model, dataset or Prefect work.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Literal, Optional

import pytest

from ctrl import cli_args, registry
from ctrl.cli import build_parser, main
from ctrl.config import ConfigError, describe, doc, from_dict, leaf_fields, to_dict
from ctrl.errors import UserError

# ---------------------------------------------------------------- typed parsing


@dataclasses.dataclass(frozen=True)
class Gen:
    temperature: float = doc("softmax temperature", 0.7)
    max_new_tokens: int = doc("most new tokens", 256)
    stop: tuple[str, ...] = doc("stop strings", ())


@dataclasses.dataclass(frozen=True)
class Toy:
    samples: int = doc("samples per problem", 4)
    test_sets: tuple[str, ...] = doc("test sets", ("public", "private"))
    workers: int | None = doc("workers; none = default", None)
    ratio: Optional[float] = doc("a ratio", None)
    mode: Literal["full", "reward"] = doc("mode", "full")
    reuse: bool = doc("reuse earlier samples", True)
    ids: list[int] = dataclasses.field(default_factory=list, metadata={"help": "ids"})
    generation: Gen = doc("sampling", Gen(temperature=0.2))


def test_tuple_field_given_one_word_is_a_one_item_tuple():
    assert from_dict(Toy, {"test_sets": "public"}).test_sets == ("public",)
    assert from_dict(Toy, {"test_sets": ["public"]}).test_sets == ("public",)


def test_optional_int_given_text_is_an_int_and_none_is_none():
    assert from_dict(Toy, {"workers": "4"}).workers == 4
    assert from_dict(Toy, {"workers": 4}).workers == 4
    assert from_dict(Toy, {"workers": "none"}).workers is None
    assert from_dict(Toy, {"ratio": 1}).ratio == 1.0  # a float field takes ints


@pytest.mark.parametrize("data, words", [
    ({"samples": "four"}, ["Toy.samples", "integer", "'four'"]),
    ({"samples": True}, ["Toy.samples", "integer"]),
    ({"mode": "half"}, ["Toy.mode", "'full', 'reward'"]),
    ({"reuse": "maybe"}, ["Toy.reuse", "true or false"]),
    ({"generation": {"temperature": "hot"}}, ["Toy.generation.temperature", "number"]),
    ({"nosuch": 1}, ["Toy", "nosuch", "valid fields"]),
])
def test_a_bad_value_names_the_class_and_field(data, words):
    with pytest.raises(ConfigError) as e:
        from_dict(Toy, data)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert isinstance(e.value, UserError) and isinstance(e.value, ValueError)


def test_nested_config_from_a_dict_keeps_the_fields_own_default():
    cfg = from_dict(Toy, {"generation": {"max_new_tokens": 64}})
    assert cfg.generation == Gen(temperature=0.2, max_new_tokens=64)
    assert from_dict(Toy, {"generation.stop": "a,b"}).generation.stop == ("a", "b")
    assert to_dict(cfg)["generation"] == {"temperature": 0.2, "max_new_tokens": 64, "stop": []}
    assert from_dict(Toy, to_dict(cfg)) == cfg
    names = [row[0] for row in describe(Toy)]
    assert "generation.temperature" in names and "generation" not in names
    assert {f.name: f.default for f in leaf_fields(Toy)}["generation.temperature"] == 0.2


def _cli(*argv: str) -> Toy:
    import argparse

    p = argparse.ArgumentParser()
    cli_args.add_config(p, Toy, aliases={"n": "samples"})
    return cli_args.build_config(p.parse_args(list(argv)), Toy)


def test_cli_options_are_typed_by_the_annotation():
    cfg = _cli("--n", "2", "--test-sets", "public", "--workers", "4", "--ratio", "none",
               "--no-reuse", "--ids", "1,2", "--ids", "3")
    assert (cfg.samples, cfg.test_sets, cfg.workers, cfg.ratio) == (2, ("public",), 4, None)
    assert cfg.reuse is False and cfg.ids == [1, 2, 3]
    assert _cli("--reuse", "false").reuse is False and _cli("--reuse").reuse is True
    assert _cli("--test-sets", '["a,b", "c"]').test_sets == ("a,b", "c")


def test_cli_nested_options_dotted_and_by_unique_leaf_name():
    cfg = _cli("--generation.temperature", "0", "--max-new-tokens", "64",
               "--set", "generation.stop=END")
    assert cfg.generation == Gen(temperature=0.0, max_new_tokens=64, stop=("END",))


def test_cli_bad_value_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"Toy\.samples: expected an integer, got 'four'"):
        _cli("--samples", "four")
    with pytest.raises(ConfigError, match=r"Toy\.generation\.max_new_tokens"):
        _cli("--set", "generation.max_new_tokens=many")


def test_every_stage_config_round_trips_and_gets_its_options():
    parser = build_parser()  # builds every command's options from the annotations
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for stage in {s.command: s for s in registry.STAGES if s.command}.values():
        opts = sub[stage.command]._option_string_actions
        for f in leaf_fields(stage.config):
            if f.name not in ("shard_size",) or stage.command != "execute":
                assert "--" + f.name.replace("_", "-") in opts, (stage.command, f.name)


# ---------------------------------------------------------------- exit codes of each command


def _first_int_field(cls: type) -> str:
    return next(f.name for f in leaf_fields(cls) if f.hint is int)


def _bad_inputs() -> list[tuple[str, list[str], str]]:
    """(command, argv, a word the message must contain): one typical bad input each."""
    cases = []
    for stage in {s.command: s for s in registry.STAGES if s.command}.values():
        field = _first_int_field(stage.config)
        opt = "--" + field.replace("_", "-")
        extra = ["--source", "mbpp"] if stage.command == "ingest" else []
        cases.append((stage.command, [stage.command, *extra, opt, "four"], field))
    cases += [
        ("rollout", ["rollout", "--n", "four"], "samples"),
        ("execute", ["execute", "--test-sets", "secret"], "test_sets"),
        ("synthesize", ["synthesize", "--set", "nosuch=1"], "nosuch"),
        ("eval", ["eval"], "artifact"),  # nothing to evaluate in an empty store
        ("sql", ["sql", "SELEC nonsense"], ""),
        ("runs", ["runs", "--format", "xml"], "xml"),
        ("serve", ["serve", "--port", "http"], "http"),
        ("build-model", ["build-model", "--steps", "many"], "many"),
        ("run", ["run", "--preset", "no-such-preset"], "no-such-preset"),
    ]
    return cases


@pytest.mark.parametrize("command, argv, word", _bad_inputs(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_input_is_one_line_and_exit_2(store, capsys, command, argv, word):
    with pytest.raises(SystemExit) if _is_usage_error(argv) else _nothing() as exc:
        rc = main(argv)
    rc = exc.value.code if exc is not None else rc
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith(f"ctrl {command}: error: "), err
    assert word in err[0]


def _is_usage_error(argv: list[str]) -> bool:
    """argparse rejects these (an int-typed or choice option) and exits itself."""
    return argv[0] in ("runs", "serve", "build-model")


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_the_process_exits_2_with_one_line_and_no_traceback(tmp_path):
    env = {**os.environ, "CTRL_HOME": str(tmp_path / "home")}
    for argv in (["rollout", "--n", "four"], ["runs", "--format", "xml"]):
        proc = subprocess.run([sys.executable, "-m", "ctrl.cli", *argv], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"ctrl {argv[0]}: error: "), lines


def _raising(monkeypatch, error: BaseException) -> None:
    import ctrl.catalog_cli as cc

    real = cc.add_parser

    def add(sub):
        real(sub)
        sub.choices["runs"].set_defaults(func=lambda args: (_ for _ in ()).throw(error))

    monkeypatch.setattr(cc, "add_parser", add)


def test_sandbox_unavailable_exits_3(monkeypatch, store, capsys):
    from sandbox.jail import SandboxUnavailable

    _raising(monkeypatch, SandboxUnavailable("firejail is not installed;\nuse isolation='none'"))
    assert main(["runs"]) == 3
    assert capsys.readouterr().err.strip().splitlines() == [
        "ctrl runs: error: firejail is not installed; use isolation='none'"]


def test_storage_errors_exit_2_and_bugs_keep_their_traceback(monkeypatch, store, capsys):
    from storage import StorageError

    _raising(monkeypatch, StorageError("artifact abc is incomplete"))
    assert main(["runs"]) == 2
    _raising(monkeypatch, KeyError("a bug"))
    with pytest.raises(KeyError):
        main(["runs"])
