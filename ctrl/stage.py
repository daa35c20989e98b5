"""How a stage materializes its outputs: keyed, sharded, resumable, committed manifest-last.

A stage is ``run(store, config, **input_keys) -> StageResult``. Its key is
``artifact_key(stage, version, config, inputs)``; complete outputs under that key are a cache hit.
Every output shape goes through ``Store`` (no stage builds a path):

- ``materialize``: one table from work items, split into fixed shards; shards already on disk
  are skipped (resume after a crash), the manifest is committed last.
- ``materialize_tables``: several tables from the same work items, one shard index per item
  chunk in every table. A cache hit needs every table complete; a shard is skipped only when
  every table has it. Manifests are committed in reverse order, so the first (primary) table's
  manifest is the last file written: after a crash either all are complete or the stage re-runs
  and resumes.
- ``training``: a model whose trainer writes a per-step table shard by shard (shard index =
  step) and checkpoints. ``resume_step()`` is the step after the last one with both its shard
  and a complete checkpoint (marker written last); ``commit_model`` commits the step table, then
  the model, manifest last, and drops the checkpoints.
- report files: ``Outputs.write_file`` / ``Store.write_file`` put a file beside an artifact.

Usage (a trainer)::

    with training(store, stage="grpo", version=VERSION, config=cfg, inputs=inputs,
                  table="grpo_steps", schema=STEPS) as run:
        if not run.cached:
            for step in range(run.resume_step(), n_steps):
                ...                                   # resume weights from run.latest_checkpoint()
                run.write_step(step, rows)
                trainer.save(run.checkpoint_dir(step)); run.save_checkpoint(step)
            result = run.commit_model(final_dir, extra={"metrics": ...})
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa

from storage import Store, artifact_key

log = logging.getLogger("ctrl.stage")


@dataclasses.dataclass
class StageResult:
    """What a stage produced. ``cached`` is True when nothing was computed."""

    table: str
    key: str
    rows: int
    cached: bool
    manifest: dict[str, Any]
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)


def materialize(
    store: Store,
    *,
    stage: str,
    table: str,
    version: str,
    config: dict[str, Any],
    inputs: dict[str, str],
    items: Sequence[Any] | Callable[[], Sequence[Any]],
    process: Callable[[list[Any]], list[dict[str, Any]] | pa.Table],
    shard_size: int,
    schema: pa.Schema | None = None,
    extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    desc: str | None = None,
    postfix: Callable[[], dict[str, float]] | None = None,
) -> StageResult:
    """Materialize ``table`` under its key, resuming finished shards.

    Args:
        store: the artifact store.
        stage: stage name (part of the key), e.g. ``"rollout"``.
        table: output table name, e.g. ``"rollouts"`` (a catalog view of that name exists).
        version: the stage's code version; bump it when output for the same inputs changes.
        config: the resolved config dict (part of the key, stored in the manifest).
        inputs: input name -> artifact key (part of the key).
        items: the work items, in a deterministic order (or a callable producing them, so a
            cache hit costs nothing).
        process: turns one shard's items into rows; must be deterministic for resume to be exact.
        shard_size: items per shard.
        schema: the table's schema, used for empty outputs and to unify shards.
        extra: extra manifest fields (e.g. metrics), or a callable computed after all shards.
        progress: called with (done_items, total_items) after every shard.
        desc: label for the progress bar.
        postfix: called after every shard; its numbers are shown next to the bar
            (e.g. ``{"cases/s": 41.0}``).

    Returns:
        The StageResult; ``cached`` tells whether it was a cache hit.
    """
    def extra_of(_: Outputs) -> dict[str, dict[str, Any]]:
        return {table: (extra() if callable(extra) else dict(extra or {}))}

    results = materialize_tables(
        store, stage=stage, version=version, config=config, inputs=inputs,
        tables={table: schema}, items=items, process=lambda chunk: {table: process(chunk)},
        shard_size=shard_size, extra=extra_of, progress=progress, desc=desc, postfix=postfix)
    return results[table]


class Outputs:
    """The uncommitted outputs of one run: its key, its finished shards, files beside them.

    ``materialize_tables`` hands it to ``extra`` after the last shard, before any manifest.
    """

    def __init__(self, store: Store, key: str, writers: Mapping[str, Any],
                 n_shards: int) -> None:
        self.store, self.key, self._writers, self.n_shards = store, key, writers, n_shards

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """Every shard of ``table`` (this run's and an earlier, crashed run's), in order."""
        w = self._writers[table]
        parts = [w.read_shard(i, columns) for i in sorted(w.done_shards())]
        if not parts:
            return pa.table({})
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts,
                                                                 promote_options="permissive")

    def column(self, table: str, name: str) -> list[Any]:
        """One column of ``table`` over all its shards, as a list."""
        t = self.read(table, [name])
        return t.column(name).to_pylist() if t.num_columns else []

    def write_file(self, table: str, name: str, data: bytes) -> str:
        """A report file beside ``table`` under this key (e.g. ``"report/report.md"``)."""
        return self.store.write_file(table, self.key, name, data)


def _cached(store: Store, table: str, key: str) -> StageResult:
    m = store.read_manifest(table, key)
    return StageResult(table, key, int(m.get("rows", 0)), True, m, m.get("metrics", {}))


def materialize_tables(
    store: Store,
    *,
    stage: str,
    version: str,
    config: dict[str, Any],
    inputs: dict[str, str],
    tables: Mapping[str, pa.Schema | None],
    items: Sequence[Any] | Callable[[], Sequence[Any]],
    process: Callable[[list[Any]], Mapping[str, Any]],
    shard_size: int,
    extra: Mapping[str, dict[str, Any]] | Callable[[Outputs], Mapping[str, dict[str, Any]]]
    | None = None,
    progress: Callable[[int, int], None] | None = None,
    desc: str | None = None,
    postfix: Callable[[], dict[str, float]] | None = None,
) -> dict[str, StageResult]:
    """Materialize several tables under one key, committed as a group (see module docstring).

    Args:
        tables: table name -> schema (None: inferred), first the primary table.
        process: one shard's items -> {table: rows} for every table (deterministic).
        extra: table -> extra manifest fields, or a callable given the ``Outputs`` (to compute
            metrics from all shards, or write report files) returning them.
        The other arguments are ``materialize``'s.

    Returns:
        table -> StageResult, in the order of ``tables``; all ``cached`` on a cache hit.
    """
    if not tables:
        raise ValueError(f"{stage}: materialize_tables needs at least one table")
    key = artifact_key(stage, version, config, inputs)
    if all(store.has_table(t, key) for t in tables):
        log.info("%s: cache hit %s", stage, key)
        return {t: _cached(store, t, key) for t in tables}
    work = list(items() if callable(items) else items)
    writers = {t: store.open_writer(t, key, stage=stage, config=config, inputs=inputs,
                                    code_version=version) for t in tables}
    committed = {t for t in tables if store.has_table(t, key)}  # a crash between manifests
    shards = [work[i : i + shard_size] for i in range(0, len(work), shard_size)]
    done_in = {t: w.done_shards() for t, w in writers.items()}
    done = set.intersection(*done_in.values()) if done_in else set()
    if done:
        log.info("%s: resuming %s, %d/%d shards already done", stage, key, len(done), len(shards))
    from ctrl.progress import progress_bar

    with progress_bar(desc or stage, total=len(work)) as bar:
        n_done = sum(len(shards[i]) for i in done if i < len(shards))
        bar.advance(n_done)
        for idx, chunk in enumerate(shards):
            if idx in done:
                continue
            out = process(chunk)
            missing = sorted(set(tables) - set(out))
            if missing:
                raise ValueError(f"{stage}: process returned no rows for tables {missing}; "
                                 "return {table: rows} for every table (rows may be [])")
            for t, w in writers.items():
                if idx not in done_in[t]:
                    w.write_shard(idx, out[t], schema=tables[t])
            n_done += len(chunk)
            bar.advance(len(chunk), **(postfix() if postfix else {}))
            if progress:
                progress(n_done, len(work))
    ext = extra(Outputs(store, key, writers, len(shards))) if callable(extra) else (extra or {})
    results: dict[str, StageResult] = {}
    for t in reversed(list(tables)):  # the primary table's manifest is written last
        if t in committed:
            results[t] = _cached(store, t, key)
            continue
        e = dict(ext.get(t) or {})
        m = writers[t].commit(schema=tables[t], extra=e)
        results[t] = StageResult(t, key, int(m["rows"]), False, m, e.get("metrics", {}))
    return {t: results[t] for t in tables}


class TrainingRun:
    """One training stage's outputs: a model (key = the stage key), optionally a per-step table
    under the same key, and checkpoints. Made by ``training``; see the module docstring.

    Attributes:
        key: the model key (and the step table's key).
        cached: True when the model (and step table) are already complete; ``result`` is set.
        model_dir: a local staging directory to save the final model into.
    """

    def __init__(self, store: Store, *, stage: str, version: str, config: dict[str, Any],
                 inputs: dict[str, str], table: str | None = None,
                 schema: pa.Schema | None = None, lineage: dict[str, str] | None = None) -> None:
        self.store, self.stage, self.version = store, stage, str(version)
        self.config, self.inputs, self.table, self.schema = config, dict(inputs), table, schema
        self.recorded_inputs = {**self.inputs, **(lineage or {})}
        self.key = artifact_key(stage, version, config, inputs)
        self.result: StageResult | None = None
        self.cached = store.has_model(self.key) and (
            table is None or store.has_table(table, self.key))
        if self.cached:
            m = store.read_model_manifest(self.key)
            rows = store.read_manifest(table, self.key)["rows"] if table else 0
            self.result = StageResult("models", self.key, int(rows), True, m, m.get("metrics", {}))
            log.info("%s: cache hit %s", stage, self.key)
        self._writer = None
        self._start: int | None = None
        if table is not None and not self.cached:
            self._writer = store.open_writer(table, self.key, stage=stage, config=config,
                                             inputs=self.recorded_inputs, code_version=version)

    def __repr__(self) -> str:
        return f"TrainingRun({self.stage} {self.key}{' cached' if self.cached else ''})"

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            log.warning("%s: training %s stopped (%s); finished steps and complete checkpoints "
                        "are kept, re-run the stage to resume", self.stage, self.key,
                        exc_type.__name__)
        elif self.result is None:
            raise RuntimeError(f"{self.stage}: training {self.key} ended without commit_model; "
                               "call run.commit_model(final_dir) after the last step")

    def _live(self, what: str) -> None:
        if self.cached or (self.result is not None and not self.result.cached):
            raise RuntimeError(f"{self.stage}: {what} on {self.key}, which is already committed")

    @property
    def model_dir(self) -> str:
        return self.store.model_dir(self.key)

    def done_steps(self) -> set[int]:
        """Steps whose table shard is written (all steps when there is no step table)."""
        return self._writer.done_shards() if self._writer is not None else set()

    def resume_step(self) -> int:
        """The first step to run: one after the last step with both its shard (if there is a
        step table) and a complete checkpoint; 0 when there is none. Shards after it are
        dropped, since those steps run again."""
        self._live("resume_step")
        if self._start is not None:  # decided once: later shards are this run's own
            return self._start
        shards = self.done_steps()
        ok = [s for s in self.store.checkpoints(self.key)
              if self._writer is None or s in shards]
        start = ok[-1] + 1 if ok else 0
        if self._writer is not None:
            dropped = self._writer.drop_shards(start)
            if dropped:
                log.info("%s: dropped step shards %s (no complete checkpoint)", self.stage,
                         dropped)
        if start:
            log.info("%s: resuming %s at step %d", self.stage, self.key, start)
        self._start = start
        return start

    def latest_checkpoint(self) -> str | None:
        """The local directory of the checkpoint to resume from (None: start fresh)."""
        start = self.resume_step()
        return self.store.checkpoint_dir(self.key, start - 1) if start else None

    def write_step(self, step: int, rows: Any) -> int:
        """Write the step table's shard for ``step`` (atomically); returns its row count."""
        self._live("write_step")
        if self._writer is None:
            raise RuntimeError(f"{self.stage}: write_step without a step table; pass table=")
        return self._writer.write_shard(step, rows, schema=self.schema)

    def checkpoint_dir(self, step: int) -> str:
        """A local directory to save the checkpoint of ``step`` into."""
        return self.store.checkpoint_dir(self.key, step)

    def save_checkpoint(self, step: int, src: str | None = None) -> str:
        """Declare the checkpoint of ``step`` complete (its marker is written last).

        Args:
            src: a directory the trainer saved into, copied into ``checkpoint_dir(step)``
                first; None when it saved there directly.

        Returns:
            The checkpoint directory.
        """
        self._live("save_checkpoint")
        dest = self.checkpoint_dir(step)
        if src is not None and os.path.realpath(src) != os.path.realpath(dest):
            shutil.copytree(src, dest, dirs_exist_ok=True)
        self.store.mark_checkpoint(self.key, step)
        return dest

    def commit_model(self, local_dir: str | None = None, *,
                     extra: dict[str, Any] | None = None,
                     table_extra: dict[str, Any] | None = None) -> StageResult:
        """Commit the step table, then the model (its manifest is the last file), then drop
        the checkpoints.

        Args:
            local_dir: the final model's directory (default ``model_dir``).
            extra: extra model manifest fields (e.g. ``metrics``).
            table_extra: extra step table manifest fields.

        Returns:
            StageResult with ``table="models"``, ``rows`` = step table rows (0 without one).
        """
        self._live("commit_model")
        rows = 0
        if self._writer is not None:
            rows = int(self._writer.commit(schema=self.schema, extra=table_extra)["rows"])
        extra = dict(extra or {})
        if self.table is not None:
            extra.setdefault("steps_table", self.table)
        m = self.store.commit_model(self.key, local_dir or self.model_dir, stage=self.stage,
                                    config=self.config, inputs=self.recorded_inputs,
                                    code_version=self.version, extra=extra)
        self.store.drop_checkpoints(self.key)
        self.result = StageResult("models", self.key, rows, False, m, m.get("metrics", {}))
        return self.result


def training(store: Store, *, stage: str, version: str, config: dict[str, Any],
             inputs: dict[str, str], table: str | None = None, schema: pa.Schema | None = None,
             lineage: dict[str, str] | None = None) -> TrainingRun:
    """A training stage's materialization (use as a context manager).

    Args:
        stage, version, config, inputs: the key's parts, as for ``materialize``.
        table: the per-step table (one shard per step), e.g. ``"grpo_steps"``; None for none.
        schema: the step table's schema.
        lineage: inputs recorded in the manifests but not keyed (a keyed input already
            depends on them).

    Returns:
        The TrainingRun; ``run.cached`` tells whether there is anything to do.
    """
    return TrainingRun(store, stage=stage, version=version, config=config, inputs=inputs,
                       table=table, schema=schema, lineage=lineage)
