"""Model artifacts: ``<root>/models/<key>/`` (Hugging Face files) + ``_manifest.json`` last.

A stage trains into ``store.model_dir(key)`` (a local staging directory), then
``store.commit_model(key, dir, ...)`` moves/copies (or uploads) every file into place, each
atomically, and writes the manifest last. ``store.model_path(key)`` is always a local
directory: the model itself for local roots, a verified download cache for remote ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from typing import Any

from storage.errors import IncompleteArtifact
from storage.keys import check_name
from storage.writer import CORE_FIELDS, MANIFEST

CHECKPOINT_DONE = "_complete"  # written last into a checkpoint directory: it is complete


class ModelsMixin:
    """Model methods of ``Store`` (uses its ``_root``, ``_check``-ed keys and catalog hook)."""

    def _model_root(self, key: str) -> str:
        check_name("key", key)
        return self._root.join("models", key)

    def model_dir(self, key: str) -> str:
        """A local staging directory to write the model for ``key`` into (created empty-ok)."""
        self._model_root(key)
        if self._root.local:
            path = self._root.join("staging", "models", key)
        else:
            path = self._cache_dir("staging", key)
        os.makedirs(path, exist_ok=True)
        return path

    # ---- training checkpoints (local staging, deleted when the model is committed) ----------
    def _checkpoints_root(self, key: str) -> str:
        self._model_root(key)
        if self._root.local:
            return self._root.join("staging", "checkpoints", key)
        return self._cache_dir("checkpoints", key)

    def checkpoint_dir(self, key: str, step: int) -> str:
        """A local directory to save the checkpoint of ``step`` into (created empty-ok)."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"checkpoint step must be an int >= 0, got {step!r}")
        path = os.path.join(self._checkpoints_root(key), f"step-{step:08d}")
        os.makedirs(path, exist_ok=True)
        return path

    def mark_checkpoint(self, key: str, step: int) -> None:
        """Declare the checkpoint of ``step`` complete: its marker file is written last."""
        path = self.checkpoint_dir(key, step)
        marker = {"step": step,
                  "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")}
        tmp = os.path.join(path, f".{CHECKPOINT_DONE}.part")
        with open(tmp, "w") as f:
            json.dump(marker, f)
        os.replace(tmp, os.path.join(path, CHECKPOINT_DONE))

    def checkpoints(self, key: str) -> list[int]:
        """Steps of ``key`` whose checkpoint is complete (marker present), ascending."""
        root = self._checkpoints_root(key)
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted(int(n[5:]) for n in names if n.startswith("step-") and n[5:].isdigit()
                      and os.path.exists(os.path.join(root, n, CHECKPOINT_DONE)))

    def drop_checkpoints(self, key: str) -> None:
        """Delete every checkpoint of ``key`` (after its model is committed)."""
        shutil.rmtree(self._checkpoints_root(key), ignore_errors=True)

    def has_model(self, key: str) -> bool:
        return self._root.exists(self._manifest_path(self._model_root(key)))

    def read_model_manifest(self, key: str) -> dict[str, Any]:
        d = self._model_root(key)
        path = self._manifest_path(d)
        if not self._root.exists(path):
            self._raise_missing(f"model artifact {key}", d)
        return self._root.read_json(path)

    def commit_model(self, key: str, local_dir: str, *, stage: str, config: dict[str, Any],
                     inputs: dict[str, str], code_version: str,
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Put the files of ``local_dir`` under ``<root>/models/<key>/``; manifest last.

        Files of this key's own staging dir are moved (no copy) on local roots.

        Returns:
            The manifest dict.
        """
        dest = self._model_root(key)
        extra = dict(extra or {})
        clash = sorted(set(extra) & (set(CORE_FIELDS) | {"files", "bytes"}))
        if clash:
            raise ValueError(f"commit_model {key}: extra fields {clash} clash with core fields")
        if not os.path.isdir(local_dir):
            raise FileNotFoundError(f"commit_model {key}: {local_dir} is not a directory; "
                                    "save the model there first (store.model_dir(key))")
        rels = sorted(
            os.path.relpath(os.path.join(d, f), local_dir)
            for d, _, fs in os.walk(local_dir) for f in fs if f != MANIFEST
        )
        if not rels:
            raise ValueError(f"commit_model {key}: {local_dir} is empty; nothing to commit")
        move = self._root.local and os.path.realpath(local_dir) == os.path.realpath(
            self._root.join("staging", "models", key))
        files = []
        for rel in rels:
            src = os.path.join(local_dir, rel)
            size = os.path.getsize(src)
            target = self._model_file(dest, rel)
            if move:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(src, target)
            else:
                self._root.write_atomic(target, lambda t, s=src: _copy_into(s, t))
            files.append({"path": rel.replace(os.sep, "/"), "bytes": size})
        manifest = {
            "key": key, "table": "model", "stage": stage, "inputs": dict(inputs or {}),
            "config": config, "code_version": str(code_version), "files": files,
            "bytes": sum(f["bytes"] for f in files),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
            **extra,
        }
        self._root.write_json_atomic(self._manifest_path(dest), manifest)
        if move:
            shutil.rmtree(local_dir, ignore_errors=True)
        if self.auto_catalog:
            self.refresh_catalog()
        return manifest

    def _model_file(self, dest: str, rel: str) -> str:
        return self._root.sub(dest, rel if self._root.local else rel.replace(os.sep, "/"))

    def model_path(self, key: str) -> str:
        """A local directory holding the complete model (downloaded once for remote roots)."""
        manifest = self.read_model_manifest(key)
        dest = self._model_root(key)
        if self._root.local:
            return dest
        cache = self._cache_dir("models", key)
        cached = os.path.join(cache, MANIFEST)
        if os.path.exists(cached):
            with open(cached) as f:
                if json.load(f).get("created_at") == manifest.get("created_at"):
                    return cache
        for item in manifest["files"]:
            target = os.path.join(cache, *item["path"].split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + ".part"
            try:
                self._root.fs.get_file(self._root.sub(dest, item["path"]), tmp)
            except FileNotFoundError as e:
                raise IncompleteArtifact(
                    f"model {key}: file {item['path']} listed in its manifest is missing under "
                    f"{self.uri(dest)}; delete the manifest and re-run the stage") from e
            os.replace(tmp, target)
        with open(cached + ".part", "w") as f:
            json.dump(manifest, f, default=str)
        os.replace(cached + ".part", cached)  # last: a cache without it is re-downloaded
        return cache


def _copy_into(src: str, target: Any) -> None:
    if isinstance(target, str):
        shutil.copyfile(src, target)
    else:
        with open(src, "rb") as f:
            shutil.copyfileobj(f, target, length=8 << 20)

