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
from typing import Any

from ctrl.datasets.common import BadRow, Options

BUILTIN = {"humaneval": "ctrl.datasets.humaneval", "mbpp": "ctrl.datasets.mbpp",
           # one module for both EvalPlus releases: "module:ATTRIBUTE" names the release, and the
           # module's adapter(release) gives the source's adapter
           "humaneval+": "ctrl.datasets.evalplus:HUMANEVAL_PLUS", "mbpp+": "ctrl.datasets.evalplus:MBPP_PLUS"}
FORMATS = {
    "apps": "ctrl.datasets.apps",
    "taco": "ctrl.datasets.taco",
    "codecontests": "ctrl.datasets.codecontests",
    "livecodebench": "ctrl.datasets.livecodebench",
}


def adapter(name: str) -> Any:
    """The adapter of a built-in source or a format name: its module, or for ``module:ATTRIBUTE``
    entries what ``module.adapter(module.ATTRIBUTE)`` builds (the same names as a module's)."""
    spec = BUILTIN.get(name) or FORMATS.get(name)
    if spec is None:
        raise KeyError(name)
    module, _, attr = spec.partition(":")
    mod = importlib.import_module(module)
    return mod.adapter(getattr(mod, attr)) if attr else mod


def normalize_all(mod: Any, rows: list[tuple[str, int, dict]],
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
