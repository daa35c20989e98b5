"""evalplus 0.3.1's own harness, driven as `evalplus.evaluate` drives it, for bench_sandbox.py.

Install (the bench says so when it is missing):

    .venv/bin/pip install --no-deps evalplus==0.3.1 && .venv/bin/pip install tempdir appdirs wget multipledispatch

`--no-deps`: `evalplus.evaluate` imports the code-generation side (openai, anthropic, tree-sitter,
transformers, ...), none of which judging needs. So we import only `evalplus.eval` and
`evalplus.data` and reproduce `evaluate`'s loop exactly: `get_groundtruth` (ground truth from
`trusted_exec` on `prompt + canonical_solution`, timed), then per sample `check_correctness` =
`untrusted_check` on the base inputs and on the plus inputs, in a ProcessPoolExecutor of
`evaluate`'s default `n_workers = max(1, cpu_count // 2)`, with its default time limits
(`max(1 s, 4 x ground-truth time)` per input). `fast_check=True` is `evaluate`'s default (stop at the
first failing input); `fast_check=False` is its `--test-details` mode. Data: the offline copies in
../shared/data/evalplus/ through HUMANEVAL_OVERRIDE_PATH / MBPP_OVERRIDE_PATH.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import pathlib
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

SHARED = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "evalplus"
FILES = {"humaneval": ("HUMANEVAL_OVERRIDE_PATH", "HumanEvalPlus.jsonl.gz"),
         "mbpp": ("MBPP_OVERRIDE_PATH", "MbppPlus.jsonl.gz")}
INSTALL = ("evalplus is not installed: .venv/bin/pip install --no-deps evalplus==0.3.1 && "
           ".venv/bin/pip install tempdir appdirs wget multipledispatch")


def available() -> bool:
    try:
        import evalplus.eval  # noqa: F401
    except ImportError:
        return False
    return True


def problems(dataset: str) -> dict:
    """evalplus's own problem dicts (its loader, its input deserialization), from the offline files."""
    var, name = FILES[dataset]
    # evalplus reads the override path as plain jsonl: unpack the shipped .gz once
    out = pathlib.Path(tempfile.gettempdir()) / "ctrl-bench-evalplus" / name.replace(".gz", "")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(SHARED / name, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.environ[var] = str(out)
    import importlib

    import evalplus.data.humaneval as he
    import evalplus.data.mbpp as mb
    importlib.reload(he if dataset == "humaneval" else mb)  # the module reads the variable at import
    return he.get_human_eval_plus() if dataset == "humaneval" else mb.get_mbpp_plus()


def groundtruth(dataset: str, probs: dict) -> tuple[dict, float]:
    """evaluate.get_groundtruth, uncached: ({task_id: oracle}, seconds)."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec

    t0 = time.perf_counter()
    not_none = MBPP_OUTPUT_NOT_NONE_TASKS if dataset == "mbpp" else []
    out = {}
    for tid, p in probs.items():
        o = {}
        for part in ("base", "plus"):
            o[part], o[f"{part}_time"] = trusted_exec(p["prompt"] + p["canonical_solution"], p[f"{part}_input"],
                                                      p["entry_point"], record_time=True,
                                                      output_not_none=p["entry_point"] in not_none)
        out[tid] = o
    return out, time.perf_counter() - t0


def _check(args):
    """evaluate.check_correctness for one sample: (sample id, passed base and plus, inputs run)."""
    from evalplus.eval import PASS, untrusted_check

    sid, dataset, problem, solution, expected, fast_check = args
    ok, ran = True, 0
    for part in ("base", "plus"):
        stat, details = untrusted_check(dataset, solution, problem[f"{part}_input"], problem["entry_point"],
                                        expected=expected[part], atol=problem["atol"],
                                        ref_time=expected[f"{part}_time"], fast_check=fast_check)
        ran += len(details)
        ok = ok and stat == PASS
    return sid, ok, ran


def judge(dataset: str, samples: list[tuple[str, str, str]], probs: dict, truth: dict, fast_check: bool,
          n_workers: int | None = None) -> dict:
    """Run (sample id, task id, solution) through evalplus's harness; {"wall_s", "verdicts", "cases"}."""
    n_workers = n_workers or max(1, multiprocessing.cpu_count() // 2)
    jobs = [(sid, dataset, probs[tid], code, truth[tid], fast_check) for sid, tid, code in samples]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=n_workers) as ex:
        res = list(ex.map(_check, jobs, chunksize=1))
    return {"wall_s": time.perf_counter() - t0, "verdicts": {sid: ok for sid, ok, _ in res},
            "cases": sum(n for _, _, n in res), "workers": n_workers}
