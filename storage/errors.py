"""Exceptions raised by the store; each message names the artifact and what to do."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for artifact-store errors."""


class ArtifactNotFound(StorageError, LookupError):
    """No artifact (complete or not) exists under that table/model and key."""


class IncompleteArtifact(StorageError):
    """The artifact's directory exists but has no manifest: it was never committed."""


class QueryError(StorageError, ValueError):
    """A catalog query failed (bad SQL, or a view whose table has no artifacts yet)."""
