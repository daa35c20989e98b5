"""The one way a stage materializes a table: keyed, sharded, resumable.

A stage is ``run(store, config, **input_keys) -> StageResult``. It computes its key from
(stage name, code version, config, input keys); a complete artifact under that key is a cache
hit. Otherwise it splits its work items into fixed shards, skips shards already on disk (resume
after a crash), processes the rest, and commits the manifest last.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Sequence

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
    key = artifact_key(stage, version, config, inputs)
    if store.has_table(table, key):
        m = store.read_manifest(table, key)
        log.info("%s: cache hit %s (%d rows)", stage, key, m.get("rows", 0))
        return StageResult(table, key, int(m.get("rows", 0)), True, m, m.get("metrics", {}))
    work = list(items() if callable(items) else items)
    writer = store.open_writer(
        table, key, stage=stage, config=config, inputs=inputs, code_version=version
    )
    shards = [work[i : i + shard_size] for i in range(0, len(work), shard_size)]
    done = writer.done_shards()
    if done:
        log.info("%s: resuming %s, %d/%d shards already done", stage, key, len(done), len(shards))
    from ctrl.progress import progress_bar

    with progress_bar(desc or stage, total=len(work)) as bar:
        n_done = sum(len(shards[i]) for i in done if i < len(shards))
        bar.advance(n_done)
        for idx, chunk in enumerate(shards):
            if idx in done:
                continue
            rows = process(chunk)
            writer.write_shard(idx, rows, schema=schema)
            n_done += len(chunk)
            bar.advance(len(chunk), **(postfix() if postfix else {}))
            if progress:
                progress(n_done, len(work))
    ext = extra() if callable(extra) else (extra or {})
    manifest = writer.commit(schema=schema, extra=ext)
    return StageResult(table, key, int(manifest["rows"]), False, manifest, ext.get("metrics", {}))
