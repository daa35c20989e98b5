"""Prefect artifacts for stage results: row counts, a preview table, key metrics.

Reads: a stage's StageResult and (for the preview) the first rows of its table from the store.
Writes: Prefect artifacts on the current flow/task run (a table artifact with a preview, a
markdown artifact with key, rows, cache status and metrics). Nothing in the artifact store.
Artifact keys are ``<stage>-preview`` / ``<stage>-summary`` so the UI shows their history.
"""

from __future__ import annotations

import json
import re
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

PREVIEW_ROWS = 5
CELL_CHARS = 120


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def preview_rows(store: Any, table: str, key: str, n: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
    """The first ``n`` rows of a table artifact, every cell shortened for display."""
    if not store.has_table(table, key):
        return []
    rows = store.read_table(table, key).slice(0, n).to_pylist()
    return [{k: _cell(v) for k, v in r.items()} for r in rows]


def summary_markdown(stage: str, result: Any) -> str:
    """Markdown for one stage result: key, table, rows, cache status, metrics as a table."""
    lines = [f"### {stage}", "",
             f"- artifact: `{result.key}` (table `{result.table}`)",
             f"- rows: {result.rows}",
             f"- {'cache hit: nothing computed' if result.cached else 'built in this run'}"]
    metrics = result.metrics or {}
    if metrics:
        lines += ["", "| metric | value |", "|---|---|"]
        for k, v in sorted(metrics.items()):
            lines.append(f"| {k} | {_cell(v)} |")
    return "\n".join(lines) + "\n"


def publish_stage(store: Any, stage: str, result: Any) -> None:
    """Register a preview table (table artifacts only) and a summary markdown artifact."""
    rows = preview_rows(store, result.table, result.key) if result.table != "models" else []
    if rows:
        create_table_artifact(rows, key=artifact_key(stage, "preview"),
                              description=f"{stage}: first {len(rows)} of {result.rows} rows "
                                          f"of {result.table} {result.key}")
    create_markdown_artifact(summary_markdown(stage, result), key=artifact_key(stage, "summary"),
                             description=f"{stage}: {result.key}")


def publish_report(markdown: str, run_key: str) -> None:
    """Register the pipeline's final report as a markdown artifact."""
    create_markdown_artifact(markdown, key="ctrl-report", description=f"ctrl run {run_key}")
