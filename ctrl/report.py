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

import fsspec

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
    rows = _q(store, f"SELECT artifact, stage, table_name, rows, created_at FROM runs "
                     f"WHERE artifact IN {_in(list(keys.values()))}")
    by_key = {r["artifact"]: r for r in rows}
    return [{"stage": name, "artifact": k, "table": by_key.get(k, {}).get("table_name"),
             "rows": by_key.get(k, {}).get("rows")} for name, k in keys.items()]


def pass_rates(store: Any, keys: dict[str, str]) -> list[dict[str, Any]]:
    """Pass rate of the generator's samples (executions) and of revised code (revisions)."""
    out = []
    if "execute" in keys:
        out += _q(store, f"SELECT 'before critique' AS what, test_set, count(*) AS n, "
                         f"avg(passed::INT)::DOUBLE AS pass_rate FROM executions "
                         f"WHERE artifact = '{keys['execute']}' GROUP BY test_set ORDER BY test_set")
    if "revise" in keys:
        out += _q(store, f"SELECT 'after critique (revised)' AS what, 'all' AS test_set, "
                         f"count(*) AS n, avg(passed::INT)::DOUBLE AS pass_rate FROM revisions "
                         f"WHERE artifact = '{keys['revise']}'")
    return out


def eval_rows(store: Any, keys: dict[str, str]) -> list[dict[str, Any]]:
    if "sft-eval" not in keys:
        return []
    return _q(store, f"SELECT benchmark, generator, critic, metric, value, ci_low, ci_high, n "
                     f"FROM eval_results WHERE artifact = '{keys['sft-eval']}' "
                     f"ORDER BY benchmark, metric")


def loss_curve(store: Any, keys: dict[str, str]) -> list[tuple[float, float]]:
    """(step, loss) pairs from the sft model manifest (``extra.log_history`` or metrics)."""
    if "sft" not in keys or not store.has_model(keys["sft"]):
        return []
    m = store.read_model_manifest(keys["sft"])
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


def _plots(rates: list[dict[str, Any]], curve: list[tuple[float, float]]) -> dict[str, bytes]:
    plots = {}
    if rates:
        def bars(ax):
            labels = [f"{r['what']}\n{r['test_set']}" for r in rates]
            ax.bar(labels, [r["pass_rate"] or 0.0 for r in rates], color="#4477aa")
            ax.set_ylim(0, 1)
            ax.set_ylabel("pass rate")
            ax.set_title("pass rate before / after critique")
            ax.tick_params(axis="x", labelsize=7)
        plots["pass_rates.png"] = _png(bars)
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
    rates, curve = pass_rates(store, keys), loss_curve(store, keys)
    plots = _plots(rates, curve)
    md = [f"# ctrl run `{run_key}`", "",
          f"Preset `{plan.preset}`, stages up to `{plan.until}`, artifact root `{store.root}`.", "",
          "## Stages", "", _md_table(stage_rows(store, keys)),
          "## Pass rates", "", _md_table(rates)]
    if "pass_rates.png" in plots:
        md += ["![pass rates](pass_rates.png)", ""]
    ev = eval_rows(store, keys)
    if ev:
        md += ["## Evaluation (eval_results)", "", _md_table(ev)]
    if curve:
        md += ["## Critic SFT loss", "", "![sft loss](sft_loss.png)", ""]
    md += ["## Configs", "", "```json", json.dumps(plan.configs(), indent=1, sort_keys=True),
           "```", "", "## Query it", "", "```",
           f"ctrl sql \"SELECT stage, table_name, rows FROM runs WHERE artifact IN "
           f"{_in(list(keys.values()))}\"", "```", ""]
    return "\n".join(md), plots


def report_dir(store: Any, run_key: str) -> str:
    return store.root.rstrip("/") + f"/reports/{run_key}"


def write(store: Any, run_key: str, plan: Any, keys: dict[str, str]) -> str:
    """Render and write the report; returns the path (or URL) of ``report.md``."""
    md, plots = render(store, run_key, plan, keys)
    d = report_dir(store, run_key)
    fs, path = fsspec.core.url_to_fs(d)
    fs.makedirs(path, exist_ok=True)
    for name, data in plots.items():
        fs.pipe_file(f"{path}/{name}", data)
    fs.pipe_file(f"{path}/report.md", md.encode())
    return f"{d}/report.md"


def read(store: Any, path: str) -> str:
    fs, p = fsspec.core.url_to_fs(path)
    return fs.cat_file(p).decode()
