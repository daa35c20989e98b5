"""Dataset adapters: one module per source, each turning native rows into `problems` rows.

Built-in sources (data shipped or bundled, no download): ``humaneval``, ``mbpp``, ``humaneval+``,
``mbpp+`` (EvalPlus; expected outputs computed in the sandbox at ingest). Formats for
local files or hub ids read through `datasets`: ``apps``, ``taco``, ``codecontests``,
``livecodebench``. An adapter module defines ``SOURCE``, ``ID_FIELDS`` (columns its ids read),
``native_id(row, split, index)`` and either ``normalize(row, split, index, opts)`` (one row,
raising :class:`~ctrl.datasets.common.BadRow`) or ``normalize_all(rows, opts)`` (a batch); formats
read from files/hub also define ``HUB_ID`` and ``HUB_DATA_FILES``; built-ins define ``load(split)``.
Optional: ``VERSION`` (part of the ingest key, for an adapter whose output can change while the
data does not), ``summarize(metas)`` (extra ingest metrics from the written problems' meta) and
``statements(rows)`` (``(problem_id, statement)`` pairs for decontamination, when normalizing is
costly).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ctrl.datasets.common import BadRow, Options

BUILTIN = {"humaneval": "ctrl.datasets.humaneval", "mbpp": "ctrl.datasets.mbpp",
           "humaneval+": "ctrl.datasets.humanevalplus", "mbpp+": "ctrl.datasets.mbppplus"}
FORMATS = {
    "apps": "ctrl.datasets.apps",
    "taco": "ctrl.datasets.taco",
    "codecontests": "ctrl.datasets.codecontests",
    "livecodebench": "ctrl.datasets.livecodebench",
}


def adapter(name: str) -> ModuleType:
    """The adapter module of a built-in source or a format name."""
    module = BUILTIN.get(name) or FORMATS.get(name)
    if module is None:
        raise KeyError(name)
    return importlib.import_module(module)


def normalize_all(mod: ModuleType, rows: list[tuple[str, int, dict]],
                  opts: Options) -> list[tuple[int, dict | BadRow]]:
    """(row index, problem row or BadRow) for each native row, through ``mod``'s normalizer."""
    if hasattr(mod, "normalize_all"):
        return mod.normalize_all(rows, opts)
    out: list[tuple[int, dict | BadRow]] = []
    for split, index, row in rows:
        try:
            out.append((index, mod.normalize(row, split, index, opts)))
        except BadRow as e:
            out.append((index, e))
        except (TypeError, AttributeError, KeyError, ValueError) as e:
            # a wrong-typed field the adapter did not anticipate: quarantine, never stop the run
            out.append((index, BadRow(f"unexpected row shape ({type(e).__name__}: {e})")))
    return out


__all__ = ["BUILTIN", "FORMATS", "BadRow", "Options", "adapter", "normalize_all"]
