"""HumanEval+ and MBPP+ (EvalPlus), shipped in ``ctrl/assets/data/evalplus/`` (Apache-2.0, see
ATTRIBUTION.md there): the shared logic of the ``humaneval+`` and ``mbpp+`` sources.

Rows: ``task_id, prompt, entry_point, canonical_solution, base_input, plus_input, atol, contract``
(+ ``test`` / ``assertion``). Inputs are argument lists; EvalPlus ships no expected outputs: its
``get_groundtruth`` runs ``prompt + canonical_solution`` on every input. We do the same once, at
ingest, in the sandbox (``return_values``), and store the result. Normalized as

- statement: HumanEval+ the prompt (signature + docstring, also the starter code); MBPP+ the
  prompt's description plus its assert, worded as the ``mbpp`` source words it; split ``test``;
- canonical_solution: ``prompt + canonical_solution``, the code EvalPlus computes outputs with;
- public tests: the ``base_input`` cases (the original benchmark's inputs); private tests:
  ``base_input + plus_input`` (EvalPlus's "+" score needs both). Both are ``call`` tests with
  ``compare: "evalplus"`` (EvalPlus 0.3.1 ``unsafe_execute``: exact ``==``, float allclose),
  the row's ``atol`` and ``oracle``, the special check some tasks need (``find_zero``,
  ``set_eq``, ``not_none``, ...; see :data:`ORACLES`). For ``not_none`` tasks the expected value
  is ``output is not None``, as EvalPlus's ``get_groundtruth(output_not_none=...)`` stores it.
- arguments: what EvalPlus hands the function. HumanEval+ inputs are plain ``json.loads`` values;
  MBPP+ inputs go through EvalPlus's ``mbpp_deserialize_inputs`` (JSON lists back to tuples,
  complex numbers from strings, ...), ported in :func:`mbpp_deserialize_inputs`. Values are stored
  as the sandbox's tagged JSON (``sandbox.codec.encode``), so tuples, dict key order and non-str
  keys reach the candidate as EvalPlus passes them.

Dropped inputs (counted per problem in ``meta.dropped``, totals in the ingest metrics): the
canonical solution failed on it (the sandbox status: ``timeout``, ``runtime_error``, also for a
return value the sandbox will not decode such as HumanEval/83's million-digit ints,
``output_limit`` for one over its 16 MB frame, ...), or one stored case (args + expected) is over
:data:`MAX_CASE_BYTES` of JSON (``too_large``: HumanEval/14, 15, 130, 139 and a few MBPP+ tasks
return multi-MB values on their largest inputs). A problem left with no case is quarantined with
the counts in its reason.

Limits: EvalPlus gives each input ``max(1 s, 4 x ground-truth time)``, measured when it computes
the outputs. We store a fixed ``time_limit_s`` of :data:`TIME_LIMIT_S` (CPU seconds per case) and
drop inputs by outcome only, never by measured time, so the rows, and a candidate's verdict, do
not depend on how loaded the ingesting machine was. The slowest reference input (Mbpp/599,
``sum(range(10**8))``) takes 0.5-1.2 s CPU on our 2-core machine (more under load), the next ones
under 0.5 s, so a solution as fast as the reference keeps a 3-8x margin (EvalPlus's rule: 4x).
Rows hold no timings, so an ingest that is killed and resumed writes the same table.
``memory_mb`` is EvalPlus's own cap (``EVALPLUS_MAX_MEMORY_BYTES``, 4 GiB).

Run: ``ctrl ingest --source humaneval+`` and ``ctrl ingest --source mbpp+``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import gzip
import json
import pathlib
import re
import types
from typing import Any

from ctrl.datasets.common import (BadRow, Options, call_tests, cap_private, dumps, problem_row,
                                  require_str)
from ctrl.datasets.loading import RawSource, SourceError, path_fingerprint

# Bumped whenever the rows this module writes change (deserialization, oracles, drop rules); part
# of the ingest key through the adapter's VERSION.
VERSION = "1"
TIME_LIMIT_S = 4.0
MEMORY_MB = 4096
MAX_CASE_BYTES = 64 * 1024
ASSETS = pathlib.Path(__file__).resolve().parent.parent / "assets/data/evalplus"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One EvalPlus release: ``name`` is EvalPlus's dataset name (its oracles key on it)."""

    source: str
    name: str
    file: str
    version: str


HUMANEVAL_PLUS = Dataset("humaneval+", "humaneval", "HumanEvalPlus.jsonl.gz", "v0.1.10")
MBPP_PLUS = Dataset("mbpp+", "mbpp", "MbppPlus.jsonl.gz", "v0.2.0")

# evalplus/eval/_special_oracle.py (0.3.1)
MBPP_OUTPUT_NOT_NONE_TASKS = ("check_str", "text_match_three", "text_starta_endb")
MBPP_OUTPUT_SET_EQ_TASKS = ("similar_elements", "find_char_long", "common_in_nested_lists",
                            "extract_singly", "larg_nnum", "intersection_array", "find_dissimilar",
                            "Diff")
# (dataset, entry point) -> oracle name, as evalplus.eval.unsafe_execute special-cases them
ORACLES = {("humaneval", "find_zero"): "find_zero",  # HumanEval/32: |poly(xs, out)| <= atol
           ("mbpp", "are_equivalent"): "always",  # Mbpp/164 (not in v0.2.0)
           ("mbpp", "sum_div"): "or_zero",  # Mbpp/295 (not in v0.2.0)
           ("mbpp", "surface_Area"): "surface_area",  # Mbpp/581
           ("mbpp", "digit_distance_nums"): "digit_distance",  # Mbpp/558
           **{("mbpp", ep): "set_eq" for ep in MBPP_OUTPUT_SET_EQ_TASKS},
           **{("mbpp", ep): "not_none" for ep in MBPP_OUTPUT_NOT_NONE_TASKS}}
RULE = ("public: EvalPlus base_input (the original benchmark's inputs); private: base_input + "
        "plus_input (the EvalPlus '+' tests); expected outputs from the canonical solution run in "
        "the sandbox at ingest")


def data_path(ds: Dataset) -> pathlib.Path:
    return ASSETS / ds.file


def load(ds: Dataset, split: str | None) -> RawSource:
    """All rows in file order, split ``test``."""
    if split not in (None, "test"):
        raise SourceError(f"{ds.source} has only the split 'test', not {split!r}")
    path = data_path(ds)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return RawSource([("test", rows)], path_fingerprint(path), str(path))


ID_FIELDS = ("task_id",)


def native_id(row: dict, split: str, index: int) -> str:
    """``HumanEval/0`` -> ``0``, ``Mbpp/2`` -> ``2``, as the humaneval and mbpp sources do."""
    tid = row.get("task_id")
    return str(tid).split("/")[-1] if tid is not None else str(index)


def _tuple_all(x: Any) -> Any:
    return tuple(_tuple_all(i) for i in x) if isinstance(x, list) else x


def mbpp_deserialize_inputs(task_id: str, inputs: list) -> list:
    """EvalPlus 0.3.1 ``evalplus.data.mbpp.mbpp_deserialize_inputs`` (Apache-2.0), unchanged in
    effect: MBPP+ stores tuples, sets and complex numbers as JSON lists/strings, and EvalPlus
    turns them back per task before calling the function."""
    tid = int(task_id.split("/")[-1])
    if tid in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616,
               630, 726, 740, 744, 809):
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if tid in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if tid in (75, 413, 444, 753):
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if tid in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if tid == 115:  # an empty item becomes {} (a dict), as in EvalPlus
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]]
                for inp in inputs]
    if tid == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if tid in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if tid in (259, 401, 445):
        inner = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in inner]
    if tid == 278:
        inner = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]]
                 for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in inner]
    if tid == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if tid == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if tid == 252:
        return [[complex(inp[0])] for inp in inputs]
    if tid in (580, 615, 791):
        return [_tuple_all(inp) for inp in inputs]
    return inputs


def _inputs(ds: Dataset, row: dict, field: str) -> list:
    """One input list as EvalPlus hands it to the function (each input an argument sequence)."""
    value = row.get(field)
    if value == {}:
        value = []  # Mbpp/793 plus_input is {}: EvalPlus iterates it and runs nothing
    if not isinstance(value, list) or not all(isinstance(a, list) for a in value):
        raise BadRow(f"field {field!r} should be a list of argument lists")
    if ds.name == "mbpp":
        try:
            value = mbpp_deserialize_inputs(str(row.get("task_id")), value)
        except (TypeError, ValueError, IndexError, AttributeError) as e:
            raise BadRow(f"field {field!r} does not deserialize as EvalPlus does "
                         f"({type(e).__name__}: {e})") from None
    return [list(a) for a in value]


_MBPP_PROMPT = re.compile(r'^\s*"""\s*\n(.*?)\n(assert .*?)\s*"""\s*$', re.S)


def statement_of(ds: Dataset, prompt: str) -> str:
    """HumanEval+: the prompt; MBPP+: description + shown assert, in the mbpp source's words."""
    if ds.name != "mbpp":
        return prompt
    m = _MBPP_PROMPT.match(prompt)
    if not m:
        return prompt.strip().strip('"').strip()
    return f"{m.group(1).strip()}\nYour code should pass this test:\n\n{m.group(2).strip()}"


def _parse(ds: Dataset, row: dict) -> dict:
    """The fields we need, checked; BadRow naming what is wrong."""
    for field in ("task_id", "prompt", "entry_point", "canonical_solution"):
        require_str(row, field)
    atol = row.get("atol", 0)
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or atol < 0:
        raise BadRow(f"field 'atol' should be a non-negative number, got {atol!r}")
    base, plus = _inputs(ds, row, "base_input"), _inputs(ds, row, "plus_input")
    if not base and not plus:
        raise BadRow("no inputs in base_input or plus_input")
    return {"row": row, "atol": atol, "inputs": base + plus, "n_base": len(base),
            "code": row["prompt"] + row["canonical_solution"]}


def ground_truth(problems: list[dict]) -> list[list[dict]]:
    """Run each canonical solution on its inputs in the sandbox: per problem, per input, the
    sandbox case result (``status``, ``time_ms`` and, when it returned, ``value``)."""
    from sandbox import SandboxUnavailable, judge

    items = [{"id": p["row"]["task_id"], "code": p["code"], "return_values": True,
              "time_limit_s": TIME_LIMIT_S, "memory_mb": MEMORY_MB, "stop_on_timeout": False,
              "tests": {"kind": "call", "entry_point": p["row"]["entry_point"],
                        "cases": [{"args": a, "expected": None} for a in p["args"]]}}
             for p in problems]
    try:
        results = judge(items)
    except SandboxUnavailable as e:
        raise SourceError(f"EvalPlus expected outputs are computed in the sandbox at ingest, and "
                          f"it is unavailable: {e}") from None
    for item, res in zip(items, results):
        if res is None:  # the judge lost the item (an error in its supervisor thread)
            raise SourceError(f"{item['id']}: the sandbox returned no result while computing "
                              "expected outputs; rerun, and report it if it persists")
        broken = [c for c in res["cases"] if c["status"] == "sandbox_error"]
        if broken:  # not the reference's fault: never bake it into a cached artifact
            raise SourceError(f"{item['id']}: the sandbox failed while computing expected "
                              f"outputs ({broken[0]['stderr'][-300:]}); check `python -m sandbox "
                              "doctor` and rerun")
        if len(res["cases"]) != len(item["tests"]["cases"]):
            raise SourceError(f"{item['id']}: the sandbox returned {len(res['cases'])} results "
                              f"for {len(item['tests']['cases'])} inputs; rerun")
    return [r["cases"] for r in results]


def _cases(p: dict, results: list[dict], oracle: str | None) -> tuple[list, list, dict]:
    """(base cases, plus cases, dropped counts by reason) from one problem's sandbox results."""
    base, plus, dropped = [], [], collections.Counter()
    for k, (args, res) in enumerate(zip(p["args"], results)):
        if res["status"] not in ("pass", "wrong_answer") or "value" not in res:
            dropped[res["status"]] += 1
            continue
        value = res["value"]
        case = (args, value is not None if oracle == "not_none" else value)
        if len(dumps({"args": case[0], "expected": case[1]})) > MAX_CASE_BYTES:
            dropped["too_large"] += 1
            continue
        (base if k < p["n_base"] else plus).append(case)
    return base, plus, dict(sorted(dropped.items()))


def normalize_all(ds: Dataset, rows: list[tuple[str, int, dict]],
                  opts: Options) -> list[tuple[int, dict | BadRow]]:
    """(index, problem row or BadRow) for each (split, index, row); one sandbox batch for all."""
    from sandbox.codec import TooBig, encode

    parsed: list[tuple[int, str, dict] | tuple[int, BadRow]] = []
    for split, index, row in rows:
        try:
            p = _parse(ds, row)
            p["args"] = [encode(a) for a in p["inputs"]]
            parsed.append((index, split, p))
        except BadRow as e:
            parsed.append((index, e))
        except (TypeError, AttributeError, KeyError, ValueError, TooBig) as e:
            parsed.append((index, BadRow(f"unexpected row shape ({type(e).__name__}: {e})")))
    good = [x[2] for x in parsed if not isinstance(x[-1], BadRow)]
    results = iter(ground_truth(good)) if good else iter(())
    out: list[tuple[int, dict | BadRow]] = []
    for entry in parsed:
        if isinstance(entry[-1], BadRow):
            out.append(entry)  # type: ignore[arg-type]
            continue
        index, split, p = entry  # type: ignore[misc]
        try:
            out.append((index, _problem(ds, split, index, p, next(results), opts)))
        except BadRow as e:
            out.append((index, e))
    return out


def _problem(ds: Dataset, split: str, index: int, p: dict, results: list[dict],
             opts: Options) -> dict:
    row, entry = p["row"], p["row"]["entry_point"]
    oracle = ORACLES.get((ds.name, entry))
    base, plus, dropped = _cases(p, results, oracle)
    n_in = len(p["inputs"])
    if not base and not plus:
        why = ", ".join(f"{n} {r}" for r, n in dropped.items())
        raise BadRow(f"no test case left: all {n_in} inputs dropped while computing expected "
                     f"outputs with the canonical solution ({why})")
    private, cap_rule = cap_private(base + plus, opts)
    extra = {"compare": "evalplus", "atol": p["atol"], "oracle": oracle}
    n_dropped = sum(dropped.values())
    rule = RULE + (f"; {n_dropped} of {n_in} inputs dropped ({', '.join(dropped)})"
                   if n_dropped else "") + cap_rule
    return problem_row(
        source=ds.source, native_id=native_id(row, split, index), split=split,
        statement=statement_of(ds, row["prompt"]),
        starter_code=row["prompt"] if ds.name == "humaneval" else "", entry_point=entry,
        public=call_tests(entry, base, **extra), private=call_tests(entry, private, **extra),
        rule=rule, opts=opts, time_limit_s=TIME_LIMIT_S, memory_mb=MEMORY_MB,
        canonical_solution=p["code"],
        meta={"task_id": row["task_id"], "evalplus_version": ds.version, "atol": p["atol"],
              "oracle": oracle, "n_base_inputs": p["n_base"],
              "n_plus_inputs": n_in - p["n_base"], "n_base": len(base), "n_plus": len(plus),
              "computed": sum(1 for r in results if "value" in r), "dropped": dropped,
              "contract": row.get("contract")})


def statements(ds: Dataset, rows: list[tuple[str, int, dict]]) -> list[tuple[str, str]]:
    """(problem_id, statement) of each row with a prompt, without computing outputs (what
    decontamination against this set needs)."""
    return [(f"{ds.source}/{native_id(row, split, index)}", statement_of(ds, row["prompt"]))
            for split, index, row in rows if isinstance(row.get("prompt"), str)]


def summarize(metas: list[dict]) -> dict[str, Any]:
    """Ingest-metrics totals over the written problems' meta (quarantined problems' inputs are
    counted in their quarantine reason)."""
    dropped: collections.Counter = collections.Counter()
    for m in metas:
        dropped.update(m.get("dropped") or {})
    return {"inputs": sum(m["n_base_inputs"] + m["n_plus_inputs"] for m in metas),
            "expected_outputs_computed": sum(m["computed"] for m in metas),
            "cases_kept": sum(m["n_base"] + m["n_plus"] for m in metas),
            "inputs_dropped": sum(dropped.values()),
            "inputs_dropped_by_reason": dict(sorted(dropped.items()))}


def adapter(ds: Dataset) -> types.SimpleNamespace:
    """The adapter of one EvalPlus release (what ``ctrl.datasets.adapter`` returns for its source):
    the functions above with the dataset bound, under the names every adapter module has."""
    return types.SimpleNamespace(
        SOURCE=ds.source, VERSION=VERSION, ID_FIELDS=ID_FIELDS, native_id=native_id, summarize=summarize,
        load=functools.partial(load, ds), statements=functools.partial(statements, ds),
        normalize_all=functools.partial(normalize_all, ds))
