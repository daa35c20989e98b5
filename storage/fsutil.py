"""The store's root on any fsspec filesystem, and atomic writes on it.

A root is a local path or an fsspec URL (``file://``, ``memory://``, ``s3://`` ...). Every write
goes to a hidden temporary name in the destination directory and is then renamed, so a reader
(or a resumed writer) only ever sees whole files under their final names. Two writers racing on
the same name each rename a complete file; the last rename wins.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from typing import Any, Callable

import fsspec
from fsspec.implementations.local import LocalFileSystem

TMP_MARK = ".tmp-"


class Root:
    """A store root: ``fs`` (fsspec filesystem), ``path`` (fs path) and ``url`` (as given)."""

    def __init__(self, root: str) -> None:
        root = str(root)
        if "://" in root:
            self.fs, path = fsspec.core.url_to_fs(root)
            self.url = root.rstrip("/")
        else:
            self.fs = LocalFileSystem()
            path = os.path.abspath(os.path.expanduser(root))
            self.url = path
        self.local = isinstance(self.fs, LocalFileSystem)
        self.path = os.path.abspath(path) if self.local else path.rstrip("/")

    def join(self, *parts: str) -> str:
        """An fs path under the root."""
        return posixpath.join(self.path, *parts) if not self.local else os.path.join(self.path, *parts)

    def sub(self, directory: str, name: str) -> str:
        """``name`` inside ``directory`` (an fs path)."""
        return os.path.join(directory, name) if self.local else posixpath.join(directory, name)

    def uri(self, path: str) -> str:
        """How DuckDB names ``path``: absolute local path, or the URL with its protocol."""
        return path if self.local else self.fs.unstrip_protocol(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path) if self.local else self.fs.exists(path)

    def makedirs(self, path: str) -> None:
        if self.local:
            os.makedirs(path, exist_ok=True)
        else:
            self.fs.makedirs(path, exist_ok=True)

    def listdir(self, path: str) -> list[str]:
        """Base names in a directory ([] when it does not exist)."""
        if self.local:
            try:
                return os.listdir(path)
            except FileNotFoundError:
                return []
        self.fs.invalidate_cache(path)  # object stores (s3fs, gcsfs) cache listings
        if not self.fs.exists(path):
            return []
        return [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(path, detail=False)]

    def glob(self, pattern: str) -> list[str]:
        if self.local:
            import glob

            return sorted(glob.glob(pattern))
        self.fs.invalidate_cache()
        return sorted(self.fs.glob(pattern))

    def remove(self, path: str) -> None:
        """Delete a file (no error when it is already gone)."""
        try:
            if self.local:
                os.remove(path)
            else:
                self.fs.rm(path)
        except FileNotFoundError:
            return

    def read_bytes(self, path: str) -> bytes:
        if self.local:
            with open(path, "rb") as f:
                return f.read()
        return self.fs.cat_file(path)

    def read_json(self, path: str) -> dict[str, Any]:
        raw = self.read_bytes(path)
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{self.uri(path)} is not valid JSON ({e}); delete it to make the artifact "
                "incomplete, then re-run the stage to rewrite it"
            ) from e

    def write_atomic(self, path: str, write: Callable[[Any], None]) -> None:
        """Call ``write(file_object_or_local_path)`` on a temp name, then rename onto ``path``.

        For local roots ``write`` gets a local path (so pyarrow can write natively); for
        remote roots it gets an open binary file.
        """
        directory, name = os.path.split(path) if self.local else posixpath.split(path)
        tmp = (os.path.join if self.local else posixpath.join)(
            directory, f".{name}{TMP_MARK}{uuid.uuid4().hex[:12]}"
        )
        self.makedirs(directory)
        try:
            if self.local:
                write(tmp)
                os.replace(tmp, path)
            else:
                with self.fs.open(tmp, "wb") as f:
                    write(f)
                self.fs.mv(tmp, path)
        except BaseException:
            self._discard(tmp)
            raise

    def write_bytes_atomic(self, path: str, data: bytes) -> None:
        def write(target: Any) -> None:
            if isinstance(target, str):
                with open(target, "wb") as f:
                    f.write(data)
            else:
                target.write(data)

        self.write_atomic(path, write)

    def write_json_atomic(self, path: str, obj: Any) -> None:
        data = json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        self.write_bytes_atomic(path, data.encode("utf-8"))

    def _discard(self, tmp: str) -> None:
        """Remove a temp file left by a failed write (it may never have been created)."""
        try:
            if self.local:
                os.remove(tmp)
            elif self.fs.exists(tmp):
                self.fs.rm(tmp)
        except FileNotFoundError:
            return


def is_temp(name: str) -> bool:
    """True for the hidden temp names ``write_atomic`` uses."""
    return name.startswith(".") and TMP_MARK in name
