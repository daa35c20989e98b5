"""Golden numbers of the smoke run: the `tiny` preset end to end on reference rollouts.

Catches silent regressions anywhere in the chain (ingest, sandbox verdicts, critique synthesis,
SFT, evaluation). The numbers live in `tests/golden/smoke_tiny.json`; to change them, run
`CTRL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py` and say why in the commit message.
"""

from __future__ import annotations

import json
import math
import os
import pathlib

from ctrl import pipeline

GOLDEN = pathlib.Path(__file__).parent / "golden" / "smoke_tiny.json"
# Counts and sandbox pass rates must match exactly; losses and eval numbers of a trained model
# may drift a little with the torch/transformers build.
REL_TOL = {"sft_first_loss": 0.05, "sft_final_loss": 0.10}


def smoke_numbers(store) -> dict[str, float]:
    results = pipeline.run(store, pipeline.plan("tiny", None,  # every step
                                                {"rollout": {"variant": "reference"}}))
    out: dict[str, float] = {f"rows.{name}": r.rows for name, r in results.items()
                             if r.table != "model"}
    rates = store.sql(
        "SELECT r.model, e.test_set, avg(e.passed::INT) AS rate FROM executions e "
        "JOIN rollouts r USING (rollout_id) "
        f"WHERE e.artifact = '{results['execute'].key}' AND r.artifact = "
        f"'{results['rollout'].key}' GROUP BY ALL").to_pylist()
    out.update({f"pass_rate.{r['model']}.{r['test_set']}": r["rate"] for r in rates})
    losses = [h["loss"] for h in
              store.read_model_manifest(results["sft"].key)["loss_history"]]
    out["sft_first_loss"], out["sft_final_loss"] = losses[0], losses[-1]
    for step in ("base-eval", "sft-eval"):
        for row in store.read_table("eval_results", results[step].key).to_pylist():
            if row["metric"] in ("pass1_before", "pass1_after", "parse_rate"):
                out[f"{step}.{row['metric']}"] = row["value"]
    return out


def test_smoke_run_matches_golden_numbers(store):
    got = smoke_numbers(store)
    if os.environ.get("CTRL_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want), "the smoke run reports other numbers than the golden file"
    for name, value in want.items():
        tol = REL_TOL.get(name)
        ok = (math.isclose(got[name], value, rel_tol=tol) if tol is not None
              else got[name] == value)
        assert ok, f"{name}: got {got[name]}, golden {value}"
    # the sandbox verdicts behind the rates: canonical code passes, broken code fails
    assert want["pass_rate.canonical.private"] == 1.0
    assert want["pass_rate.canonical-broken.private"] == 0.0
