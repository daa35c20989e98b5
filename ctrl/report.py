"""The final report of a pipeline run: SQL over the catalog, rendered as markdown plus PNG plots.

Reads: the catalog views (``runs``, ``executions``, ``revisions``, ``eval_results``, ``models``)
for the artifact keys of one run. Writes: ``<root>/reports/<run key>/report.md`` and PNGs next to
it (``pass_rates.png``, ``sft_loss.png`` when there is a loss curve). Metrics are rows from
tables, never parsed back from prose.

    ctrl run --preset tiny --until execute       # writes the report at the end
    python -c "from ctrl import report; ..."     # report.write(store, run_key, plan, keys)
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any


from storage.errors import QueryError

log = logging.getLogger("ctrl.report")


def _q(store: Any, query: str) -> list[dict[str, Any]]:
    """Rows of ``query``; an empty list when a view has no artifacts yet (that stage not run)."""
    try:
        return store.sql(query).to_pylist()
    except QueryError as e:
        log.info("report: skipped a section (%s)", e)
        return []


def _in(keys: list[str]) -> str:
    return "(" + ", ".join("'" + k.replace("'", "''") + "'" for k in keys) + ")"


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(no rows)_\n"
    cols = list(rows[0])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))  # noqa: E731
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r[c]).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def stage_rows(store: Any, keys: dict[str, str]) -> list[dict[str, Any]]:
    """One row per stage artifact of the run, from the ``runs`` view (in pipeline order)."""
    rows = _q(store, f"SELECT artifact, table_name, rows FROM runs "
                     f"WHERE artifact IN {_in(list(keys.values()))}")
    rows += _q(store, f"SELECT artifact, 'models' AS table_name, NULL AS rows FROM models "
                      f"WHERE artifact IN {_in(list(keys.values()))}")
    by_key = {r["artifact"]: r for r in rows}
    return [{"stage": name, "artifact": k, "table": by_key.get(k, {}).get("table_name"),
             "rows": by_key.get(k, {}).get("rows")} for name, k in keys.items()]


def _writers(table: str, keys: dict[str, str]) -> list[tuple[str, str, str]]:
    """(step, label, key) of the run's steps whose stage writes ``table``, in pipeline order:
    the report's sections follow the registry, not a list of stage names."""
    from ctrl import registry

    return [(s.name, s.label, keys[s.name]) for s in registry.STEPS
            if s.name in keys and table in s.stage.outputs]


def pass_rates(store: Any, keys: dict[str, str]) -> list[dict[str, Any]]:
    """Pass rate of the generator's samples (executions) and of revised code (revisions)."""
    out = []
    for name, _, key in _writers("executions", keys):
        out += _q(store, f"SELECT '{name}: before critique' AS what, test_set, count(*) AS n, "
                         f"avg(passed::INT)::DOUBLE AS pass_rate FROM executions "
                         f"WHERE artifact = '{key}' GROUP BY test_set ORDER BY test_set")
    for name, _, key in _writers("revisions", keys):
        out += _q(store, f"SELECT '{name}: after critique (revised)' AS what, 'all' AS test_set, "
                         f"count(*) AS n, avg(passed::INT)::DOUBLE AS pass_rate FROM revisions "
                         f"WHERE artifact = '{key}'")
    return out


EVAL_METRICS = ["pass1_before", "pass1_after", "delta_up", "delta_down", "f1_macro",
                "parse_rate"]


def eval_rows(store: Any, keys: dict[str, str]) -> list[dict[str, Any]]:
    """One row per evaluated critic: pass@1 before/after critique → revision, Δ↑/Δ↓, F1."""
    out = []
    for name, label, key in _writers("eval_results", keys):
        got = _q(store, f"SELECT metric, value, ci_low, ci_high, n, benchmark FROM eval_results "
                        f"WHERE artifact = '{key}'")
        if not got:
            continue
        by = {r["metric"]: r for r in got}
        row = {"critic": label, "benchmark": got[0]["benchmark"], "n": got[0]["n"]}
        for m in EVAL_METRICS:
            row[m] = by.get(m, {}).get("value")
        row["_ci"] = {m: (by[m]["ci_low"], by[m]["ci_high"]) for m in by}
        out.append(row)
    return out


def loss_curve(store: Any, keys: dict[str, str]) -> list[tuple[float, float]]:
    """(step, loss) pairs from the sft model manifest (``extra.log_history`` or metrics)."""
    models = [k for _, _, k in _writers("model", keys) if store.has_model(k)]
    if not models:
        return []
    m = store.read_model_manifest(models[0])
    for source in (m.get("loss_history"), m.get("log_history"),
                   (m.get("metrics") or {}).get("loss_history"),
                   (m.get("metrics") or {}).get("loss_curve")):
        if isinstance(source, list):
            pts = [(float(r.get("step", i)), float(r["loss"])) for i, r in enumerate(source)
                   if isinstance(r, dict) and isinstance(r.get("loss"), (int, float))]
            if pts:
                return pts
    return []


def _png(draw) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _plots(rates: list[dict[str, Any]], evals: list[dict[str, Any]],
           curve: list[tuple[float, float]]) -> dict[str, bytes]:
    plots = {}
    bars = [(f"{r['what']}\n({r['test_set']})", r["pass_rate"], None) for r in rates]
    if evals:
        before = evals[0]
        bars = [("eval: before\ncritique", before["pass1_before"],
                 before["_ci"].get("pass1_before"))]
        bars += [(f"eval: after\n{e['critic'].split(' (')[0]}", e["pass1_after"],
                  e["_ci"].get("pass1_after")) for e in evals]
    if bars:
        def draw_bars(ax):
            vals = [v or 0.0 for _, v, _ in bars]
            err = [[max(v - (ci[0] if ci and ci[0] is not None else v), 0) for (_, _, ci), v
                    in zip(bars, vals)],
                   [max((ci[1] if ci and ci[1] is not None else v) - v, 0) for (_, _, ci), v
                    in zip(bars, vals)]]
            ax.bar([b[0] for b in bars], vals, yerr=err, capsize=4, color="#4477aa")
            ax.set_ylim(0, 1)
            ax.set_ylabel("pass@1" if evals else "pass rate")
            ax.set_title("pass rate before / after critique")
            ax.tick_params(axis="x", labelsize=7)
        plots["pass_rates.png"] = _png(draw_bars)
    if curve:
        def line(ax):
            ax.plot([s for s, _ in curve], [v for _, v in curve], marker=".")
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.set_title("critic SFT loss")
        plots["sft_loss.png"] = _png(line)
    return plots


def render(store: Any, run_key: str, plan: Any, keys: dict[str, str]) -> tuple[str, dict[str, bytes]]:
    """The report's markdown and its PNGs (name -> bytes) for one run."""
    rates, curve, ev = pass_rates(store, keys), loss_curve(store, keys), eval_rows(store, keys)
    plots = _plots(rates, ev, curve)
    md = [f"# ctrl run `{run_key}`", "",
          f"Preset `{plan.preset}`, stages up to `{plan.until}`, artifact root `{store.root}`.", "",
          "## Stages", "", _md_table(stage_rows(store, keys))]
    if ev:
        md += ["## Critique → revision on the held-out split (eval_results)", "",
               "pass@1 of the generator's samples before critique, and after one critique and "
               "revision; Δ↑/Δ↓ are the shares of all samples going wrong→right / right→wrong.",
               "", _md_table([{k: v for k, v in r.items() if k != "_ci"} for r in ev])]
    md += ["## Pass rates (executions and revisions of the run)", "", _md_table(rates)]
    if "pass_rates.png" in plots:
        md += ["![pass rates](pass_rates.png)", ""]
    if curve:
        md += ["## Critic SFT loss", "", "![sft loss](sft_loss.png)", ""]
    md += ["## Configs", "", "```json", json.dumps(plan.configs(), indent=1, sort_keys=True),
           "```", "", "## Query it", "", "```",
           f"ctrl sql \"SELECT stage, table_name, rows FROM runs WHERE artifact IN "
           f"{_in(list(keys.values()))}\"", "```", ""]
    return "\n".join(md), plots


def write(store: Any, run_key: str, plan: Any, keys: dict[str, str]) -> str:
    """Render and write the report (through the store: ``<root>/reports/<run key>/``); returns
    the path (or URL) of ``report.md``."""
    md, plots = render(store, run_key, plan, keys)
    for name, data in plots.items():
        store.write_file("report", run_key, name, data)
    return store.write_file("report", run_key, "report.md", md.encode())


def read(store: Any, run_key: str) -> str:
    """The markdown of the report of run ``run_key``."""
    return store.read_file("report", run_key, "report.md").decode()
