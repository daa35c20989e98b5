"""Keys follow the code: a stage's key includes a fingerprint of its module and of the prompt,
feedback and judgment code it declares, so a changed prompt template is a new key (never a stale
cache hit), and the manifest records which code built it."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import REPO

KEY = ("import json, ctrl.critique as c; from storage import artifact_key; "
       "print(json.dumps([c.VERSION, artifact_key('critique', c.VERSION, {'a': 1}, {'r': 'k'})]))")


def _version_and_key(root) -> list[str]:
    out = subprocess.run([sys.executable, "-c", KEY], cwd=root, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}, check=True)
    import json

    return json.loads(out.stdout)


def test_a_changed_prompt_template_gives_the_stage_a_new_key(tmp_path):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copytree(REPO / "ctrl", copy / "ctrl", ignore=shutil.ignore_patterns("assets", "__pycache__"))
    (copy / "ctrl" / "assets").symlink_to(REPO / "ctrl" / "assets")
    for pkg in ("storage", "sandbox"):
        (copy / pkg).symlink_to(REPO / pkg)
    before = _version_and_key(copy)
    assert before == _version_and_key(REPO)  # same code, same key, wherever it is checked out
    prompts = copy / "ctrl" / "critic_prompts.py"
    text = prompts.read_text()
    assert "Write a critique of the solution" in text
    prompts.write_text(text.replace("Write a critique of the solution", "Critique the solution"))
    after = _version_and_key(copy)
    assert after[0] != before[0] and after[1] != before[1]
    assert after[0].split("+")[0] == before[0].split("+")[0]  # the hand-kept number did not move


def test_the_manifest_records_the_code_version(store):
    from ctrl import ingest, pipeline

    res = pipeline.run(store, pipeline.plan("tiny", "ingest"))["ingest"]
    assert store.read_manifest("problems", res.key)["code_version"] == ingest.VERSION
    assert "+code." in ingest.VERSION
    runs = store.sql(f"SELECT code_version FROM runs WHERE artifact = '{res.key}'").to_pylist()
    assert runs and all(r["code_version"] == ingest.VERSION for r in runs)
