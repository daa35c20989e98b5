"""storage: the artifact store (Parquet tables and model dirs under a root), keys, catalog.

Reads and writes only under the store root (a local path, ``$CTRL_HOME`` or ``./.ctrl`` by
default, or any fsspec URL). Knows nothing of code models or stages. See ``storage.store``
for the layout and docs/internals.md for the API::

    from storage import Store, artifact_key
"""

from storage.errors import ArtifactNotFound, IncompleteArtifact, QueryError, StorageError
from storage.keys import artifact_key, canonical_json
from storage.store import Store, default_root
from storage.writer import TableWriter

__all__ = ["Store", "TableWriter", "artifact_key", "canonical_json", "default_root",
           "ArtifactNotFound", "IncompleteArtifact", "QueryError", "StorageError"]
