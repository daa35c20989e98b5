"""The README's command block runs as written (on a fresh artifact root)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def readme_block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_using_it_block_runs(tmp_path):
    script = readme_block("## Using it")
    env = dict(os.environ, CTRL_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1",
               OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the last SQL query printed a CSV with both test sets of the default model
    assert "default,private," in proc.stdout and "default,public," in proc.stdout
    # every stage of the block left a complete artifact behind
    for table in ("problems", "rollouts", "executions", "critiques", "sft_examples",
                  "eval_results"):
        assert any((tmp_path / "home" / "tables" / table).glob("*/_manifest.json")), table
