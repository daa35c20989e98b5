"""Read a dataset's native rows with the `datasets` library, from local files or the hub.

A source is a local path (a .json/.jsonl/.parquet/.arrow file, a directory of such files, or a
``save_to_disk`` directory) or a Hugging Face hub id. Local data is fingerprinted by the sha256 of
its files, hub data by the repo revision (online) or the cached dataset's fingerprint (offline), so
changed data gives a new artifact key.

Offline behaviour: when ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE`` is set, or a 3-second TCP probe
of the hub fails, the hub is put in offline mode before loading, so an uncached id fails at once
with :class:`SourceError` (one line saying what to do) instead of hanging on retries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import re
import socket
import urllib.parse
from typing import Any

import pyarrow as pa

from ctrl.errors import UserError

SPLIT_WORDS = ("train", "validation", "valid", "test", "dev")
FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".arrow": "arrow"}


class SourceError(UserError, RuntimeError):
    """The source cannot be read; the message is one line saying what to do."""


@dataclasses.dataclass
class RawSource:
    """Native rows in a deterministic order, read lazily (a full TACO or CodeContests split does
    not fit in memory as Python objects).

    ``parts`` is a list of (split, rows) where rows is a `datasets.Dataset` or a list of dicts;
    a position ``(part, index)`` names one row, ``index`` counting within its split.
    """

    parts: list[tuple[str, Any]]
    fingerprint: str
    location: str

    def positions(self, limit: int | None = None) -> list[tuple[int, int]]:
        """Every row's position, parts in order; only the first ``limit`` when given."""
        out: list[tuple[int, int]] = []
        for p, (_, rows) in enumerate(self.parts):
            take = len(rows) if limit is None else min(len(rows), limit - len(out))
            out.extend((p, i) for i in range(take))
            if limit is not None and len(out) >= limit:
                break
        return out

    def fetch(self, positions: list[tuple[int, int]]) -> list[tuple[str, int, dict]]:
        """(split, index, row) for the given positions."""
        return [(self.parts[p][0], i, self.parts[p][1][i]) for p, i in positions]

    def columns(self, fields: tuple[str, ...]) -> list[tuple[str, int, dict]]:
        """(split, index, {field: value}) for every row, reading only ``fields`` (cheap)."""
        out = []
        for split, rows in self.parts:
            if hasattr(rows, "select_columns"):
                rows = rows.select_columns([f for f in fields if f in rows.column_names])
                out.extend((split, i, r) for i, r in enumerate(rows))
            else:
                out.extend((split, i, {f: r.get(f) for f in fields}) for i, r in enumerate(rows))
        return out

    @property
    def rows(self) -> list[tuple[str, int, dict]]:
        """All rows as (split, index, row); for small sources and tests."""
        return self.fetch(self.positions())


def file_sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def path_fingerprint(path: pathlib.Path) -> str:
    """sha256 over every file (relative name + content hash) under ``path``."""
    if path.is_file():
        return "sha256:" + file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{file_sha256(f)}\n".encode())
    return "sha256-tree:" + h.hexdigest()


def split_from_name(name: str, default: str = "train") -> str:
    """The split a file name implies ('code_contests-test.parquet' -> 'test')."""
    words = re.split(r"[^a-z]+", name.lower())
    for word in SPLIT_WORDS:
        if word in words:
            return {"valid": "validation", "dev": "validation"}.get(word, word)
    return default


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is requested or a TCP connection to the hub fails quickly."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False
    host = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        with socket.create_connection((host or "huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def force_offline() -> None:
    """Put `datasets` and `huggingface_hub` in offline mode (also when already imported)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets.config
    import huggingface_hub.constants

    datasets.config.HF_HUB_OFFLINE = True
    if hasattr(datasets.config, "HF_DATASETS_OFFLINE"):
        datasets.config.HF_DATASETS_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True


def _parts_of(ds: Any, split_filter: str | None, default_split: str) -> list[tuple[str, Any]]:
    """(split, Dataset) parts of a Dataset or DatasetDict, splits sorted, filtered."""
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        parts = sorted(ds.items())
        if split_filter is not None:
            names = [name for name, _ in parts]
            parts = [(n, d) for n, d in parts if n == split_filter]
            if not parts:
                raise SourceError(
                    f"split {split_filter!r} not found; available splits: {', '.join(names)}")
        return parts
    return [(split_filter or default_split, ds)]


def root_cause(e: BaseException) -> str:
    """The innermost exception's first line (datasets wraps the parser's message)."""
    while e.__cause__ is not None:
        e = e.__cause__
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200]}" if text else type(e).__name__


def _quiet_datasets() -> None:
    """No per-file progress bars: ingest prints its own summary and one-line errors."""
    import datasets

    datasets.disable_progress_bars()
    # our one-line errors carry the cause; datasets' own ERROR logs would repeat it
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)


def load_local(path: pathlib.Path, split: str | None) -> RawSource:
    """Rows of a local file or directory (see module docstring)."""
    import datasets

    _quiet_datasets()

    fp = path_fingerprint(path)
    try:
        if path.is_dir() and ((path / "dataset_dict.json").exists()
                              or (path / "dataset_info.json").exists()):
            ds = datasets.load_from_disk(str(path))
            default = split_from_name(path.name)
        elif path.is_dir():
            ds = datasets.load_dataset(str(path))
            default = "train"
        else:
            builder = FILE_BUILDERS.get("".join(path.suffixes[-1:]).lower())
            if builder is None:
                raise SourceError(
                    f"{path}: unsupported file type {path.suffix!r}; use .json, .jsonl, .parquet, "
                    ".arrow, or a save_to_disk directory")
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
            default = split_from_name(path.name)
    except SourceError:
        raise
    except (ValueError, OSError, TypeError, pa.ArrowException,
            datasets.exceptions.DatasetGenerationError) as e:  # parse/cast errors
        raise SourceError(f"{path}: could not be read as a dataset ({root_cause(e)}); check "
                          "that it is valid JSON Lines/JSON/Parquet/Arrow in one schema") from None
    import datasets as _d

    if isinstance(ds, _d.Dataset) and split is not None:
        default = split  # a single file: --split names it
        split = None
    return RawSource(_parts_of(ds, split, default), fp, str(path))


def load_hub(hub_id: str, split: str | None, data_files: dict | None = None,
             config_name: str | None = None) -> RawSource:
    """Rows of a hub dataset (``data_files`` for repos whose loading script `datasets` dropped)."""
    import datasets

    _quiet_datasets()
    online = hub_reachable()
    if not online:
        force_offline()
    revision = None
    if online:
        try:
            from huggingface_hub import HfApi

            revision = HfApi().dataset_info(hub_id, timeout=10).sha
        except Exception as e:  # noqa: BLE001 - any hub failure: say which and what to do
            raise SourceError(
                f"hub dataset {hub_id!r} could not be found ({type(e).__name__}); check the id, "
                "or pass a local file/directory with --source") from None
    try:
        if data_files:
            if split is not None and split not in data_files:
                raise SourceError(f"hub dataset {hub_id!r} has splits {', '.join(data_files)}; "
                                  f"not {split!r}")
            pin = f"@{revision}" if revision else ""
            files = {k: f"hf://datasets/{hub_id}{pin}/{v}" for k, v in data_files.items()
                     if split is None or k == split}
            builder = FILE_BUILDERS.get(pathlib.PurePath(next(iter(data_files.values()))).suffix)
            ds = datasets.load_dataset(builder or "json", data_files=files)
        else:
            # naming the split lets `datasets` fetch only that split's files
            ds = datasets.load_dataset(hub_id, config_name, split=split, revision=revision)
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets raises many types for "not there"
        first = (str(e).strip().splitlines() or [""])[0][:200]
        where = "the hub is unreachable and it is not in the local cache" if not online else (
            f"loading failed ({type(e).__name__}: {first})")
        raise SourceError(
            f"hub dataset {hub_id!r} cannot be loaded: {where}; download it where there is "
            "internet (it is then cached) or pass a local file/directory with --source") from None
    if revision is None:
        parts = ds.values() if isinstance(ds, datasets.DatasetDict) else [ds]
        revision = "cache:" + hashlib.sha256(
            "".join(sorted(d._fingerprint for d in parts)).encode()).hexdigest()[:16]
    return RawSource(_parts_of(ds, split, "train"), f"hub:{hub_id}@{revision}", hub_id)


def load_source(source: str, split: str | None, *, data_files: dict | None = None,
                config_name: str | None = None) -> RawSource:
    """Local path when it exists, else a hub id (``owner/name``), else a clear SourceError."""
    path = pathlib.Path(source).expanduser()
    if path.exists():
        return load_local(path, split)
    looks_local = source.startswith((".", "/", "~")) or pathlib.PurePath(source).suffix in (
        FILE_BUILDERS) or source.count("/") != 1
    if looks_local:
        raise SourceError(f"{source}: no such file or directory; pass an existing local file/"
                          "directory or a hub id like owner/name")
    return load_hub(source, split, data_files, config_name)
