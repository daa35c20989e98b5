"""The ctrl command: user-facing errors are one line and exit 2; bugs keep their traceback."""

from __future__ import annotations

import pytest

from ctrl.cli import main


def test_unknown_model_is_one_line_not_a_traceback(store, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["ingest", "--source", "mbpp", "--split", "test", "--limit", "1"]) == 0
    capsys.readouterr()
    rc = main(["rollout", "--model", "no-such-org/no-such-model", "--limit", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("ctrl rollout: ") and "'no-such-org/no-such-model'" in err[-1]
    assert not any("Traceback" in line for line in err)
    # the same error raised deep inside another stage reaches the user as one line too
    assert main(["execute", "--reference"]) == 0
    capsys.readouterr()
    rc = main(["eval", "--critic", "no-such-org/no-such-model"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("ctrl eval: error: model 'no-such-org/no-such-model'")
    assert not any("Traceback" in line for line in err)


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "ingest" in capsys.readouterr().out


def test_a_bug_is_not_swallowed(monkeypatch, store):
    import ctrl.catalog_cli as cc

    def boom(args):
        raise ZeroDivisionError("a bug")

    parser_main = main
    monkeypatch.setattr(cc, "add_parser", _wrap(cc.add_parser, boom))
    with pytest.raises(ZeroDivisionError):
        parser_main(["runs"])


def _wrap(add_parser, func):
    def add(sub):
        add_parser(sub)
        for name in ("runs",):
            sub.choices[name].set_defaults(func=func)
    return add
