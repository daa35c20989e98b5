"""Reference rollouts: canonical solutions and deliberately broken variants of them.

Reads a ``problems`` artifact and writes a ``rollouts`` artifact (stage ``reference_rollouts``)
with, per problem that has a canonical solution, one rollout of model ``canonical`` and
``n_broken`` rollouts of model ``canonical-broken``. The executions stage, critique synthesis and
the sandbox benchmark can then run before any model has generated anything, with known labels:
canonical should pass, broken should fail.

Run it with ``ctrl execute --problems KEY --reference`` (which then executes the rollouts too).

Mutations (``MUTATIONS``), chosen per (problem, sample) deterministically from the seed:

- ``wrong_result``: the entry point's result is perturbed (ints off by one, booleans flipped,
  strings and containers changed, floats moved far beyond any tolerance); stdin programs print
  an extra wrong line.
- ``return_none``: the entry point returns None (stdin programs print nothing).
- ``raise``: the entry point raises (stdin programs raise at start).
- ``infinite_loop``: the entry point never returns (exercises time-outs; costs a time limit).
- ``flip_comparison`` / ``off_by_one``: a realistic AST mutation of the solution (the first
  comparison flipped / the first integer constant plus one). These can be *equivalent mutants*
  that still pass, so they are not in the default set; the judge decides, as for any rollout.

The wrapper mutations are guaranteed to fail unless a test expects exactly the broken value.
Measured on HumanEval (164) + MBPP test (500) private tests in the sandbox: wrong_result,
return_none and raise fail on 664/664; flip_comparison survives on 8/378 problems and off_by_one
on 100/453 (equivalent mutants), which is why those two are opt-in.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from typing import Any

import pyarrow as pa

from ctrl.fingerprint import code_version
from ctrl.config import ConfigError, doc, to_dict
from ctrl.stage import StageResult, materialize
from storage import Store

STAGE, TABLE = "reference_rollouts", "rollouts"
VERSION = code_version("1", __name__, "ctrl.extract")
MUTATIONS = ("wrong_result", "return_none", "raise", "infinite_loop", "flip_comparison",
             "off_by_one")
GUARANTEED = ("wrong_result", "return_none", "raise", "infinite_loop")

ROLLOUT_SCHEMA = pa.schema([
    ("rollout_id", pa.string()), ("problem_id", pa.string()), ("model", pa.string()),
    ("turn", pa.int32()), ("sample_idx", pa.int32()),
    ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("completion", pa.string()), ("code", pa.string()), ("code_found", pa.bool_()),
    ("finish_reason", pa.string()), ("n_tokens", pa.int32()), ("temperature", pa.float64()),
    ("seed", pa.int64()), ("skip_reason", pa.string()), ("mutation", pa.string()),
])


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    """How reference rollouts are made from a problems artifact."""

    n_broken: int = doc("broken variants per problem (model `canonical-broken`)", 1)
    mutations: tuple[str, ...] = doc(
        f"mutations to draw from, any of {MUTATIONS}; the default set always breaks the code",
        ("wrong_result", "return_none", "raise"))
    include_canonical: bool = doc("also emit the canonical solution (model `canonical`)", True)
    seed: int = doc("seed for choosing each problem's mutation", 0)
    limit: int | None = doc("only the first N problems (by problem_id); None = all", None)
    shard_size: int = doc("problems per output shard", 256)

    def __post_init__(self) -> None:
        bad = [m for m in self.mutations if m not in MUTATIONS]
        if bad:
            raise ConfigError(f"ReferenceConfig.mutations: unknown {bad}; choose from {MUTATIONS}")
        if self.n_broken < 0 or (self.n_broken and not self.mutations):
            raise ConfigError("ReferenceConfig: n_broken must be >= 0, and mutations non-empty "
                              "when n_broken > 0")
        if not self.include_canonical and self.n_broken == 0:
            raise ConfigError("ReferenceConfig: nothing to emit; set include_canonical=True or "
                              "n_broken >= 1")


# ---------------------------------------------------------------- code assembly


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and n.name == name for n in ast.walk(tree))


def canonical_code(problem: dict) -> str | None:
    """The runnable canonical program: the solution, prefixed by the starter code (HumanEval
    prompt) when the solution is only a function body."""
    sol = problem.get("canonical_solution")
    if not sol or not sol.strip():
        return None
    entry = problem.get("entry_point") or ""
    starter = problem.get("starter_code") or ""
    if entry and not _defines(sol, entry) and starter:
        joined = starter + sol if starter.endswith("\n") else starter + "\n" + sol
        if _defines(joined, entry):
            return joined
    return sol


def entry_point(problem: dict, code: str) -> str:
    """The function the tests call: the problem's entry_point, else (MBPP asserts) the first
    function defined in the code that the tests mention."""
    if problem.get("entry_point"):
        return problem["entry_point"]
    tests = " ".join(str(problem.get(k) or "") for k in ("public_tests", "private_tests"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return next((n for n in names if f"{n}(" in tests), names[-1] if names else "")


_PERTURB = '''
def _ctrl_perturb(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if isinstance(v, float):
        return v * 2.0 + 1000.5
    if isinstance(v, str):
        return v + "#"
    if isinstance(v, tuple):
        return tuple(v) + ("#",)
    if isinstance(v, list):
        return list(v) + ["#"]
    if isinstance(v, dict):
        return {**v, "#": "#"}
    if isinstance(v, (set, frozenset)):
        return set(v) | {"#"}
    if v is None:
        return "#"
    return ["#", repr(v)]
'''

_WRAPPERS = {
    "wrong_result": ("def {f}(*args, **kwargs):\n"
                     "    return _ctrl_perturb(_ctrl_original(*args, **kwargs))\n"),
    "return_none": "def {f}(*args, **kwargs):\n    return None\n",
    "raise": ("def {f}(*args, **kwargs):\n"
              "    raise RuntimeError('deliberately broken reference solution')\n"),
    "infinite_loop": "def {f}(*args, **kwargs):\n    while True:\n        pass\n",
}

_STDIN = {
    "wrong_result": ("", "\nprint('-1 # deliberately wrong extra line')\n"),
    "return_none": ("import sys as _ctrl_sys\n_ctrl_sys.stdout.flush()\n_ctrl_sys.exit(0)\n", ""),
    "raise": ("raise RuntimeError('deliberately broken reference solution')\n", ""),
    "infinite_loop": ("while True:\n    pass\n", ""),
}


class _FlipFirstCompare(ast.NodeTransformer):
    FLIP = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
            ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
            ast.Is: ast.IsNot, ast.IsNot: ast.Is}

    def __init__(self) -> None:
        self.done = False

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        if not self.done and type(node.ops[0]) in self.FLIP:
            node.ops[0] = self.FLIP[type(node.ops[0])]()
            self.done = True
        return self.generic_visit(node)


class _OffByOne(ast.NodeTransformer):
    def __init__(self) -> None:
        self.done = False

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if not self.done and type(node.value) is int:
            self.done = True
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node


def _ast_mutation(code: str, mutation: str) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    t = _FlipFirstCompare() if mutation == "flip_comparison" else _OffByOne()
    # Mutate inside function bodies first: module-level constants are often test scaffolding.
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not t.done:
            t.visit(node)
    if not t.done:
        t.visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n" if t.done else None


def broken_code(problem: dict, code: str, mutation: str) -> str | None:
    """``code`` deliberately broken by ``mutation``; None when the mutation does not apply."""
    if mutation in ("flip_comparison", "off_by_one"):
        return _ast_mutation(code, mutation)
    kind = json.loads(problem.get("private_tests") or "{}").get("kind", problem.get("test_kind"))
    if kind == "stdin":
        head, tail = _STDIN[mutation]
        return head + code + tail
    f = entry_point(problem, code)
    if not f:
        return None
    body = code.rstrip("\n") + "\n\n"
    if mutation == "wrong_result":
        body += _PERTURB + f"\n_ctrl_original = {f}\n\n"
    return body + "\n" + _WRAPPERS[mutation].format(f=f)


# ---------------------------------------------------------------- rows


def _pick(seed: int, problem_id: str, sample_idx: int, options: tuple[str, ...]) -> list[str]:
    """The mutations to try for one broken sample, in a seeded order."""
    h = hashlib.sha256(f"{seed}:{problem_id}:{sample_idx}".encode()).digest()
    start = int.from_bytes(h[:8], "big") % len(options)
    return list(options[start:] + options[:start])


def _row(problem: dict, model: str, idx: int, code: str, mutation: str | None, seed: int) -> dict:
    starter = problem.get("starter_code") or ""
    text = problem["statement"]
    if starter.strip() and starter.strip() not in text:
        text += f"\n\n```python\n{starter}\n```"
    prompt = [{"role": "user", "content": text}]
    code = code.rstrip()  # what ctrl.extract.extract_code gets back from the completion
    completion = f"```python\n{code}\n```"
    return {
        "rollout_id": f"{problem['problem_id']}#{model}#{idx}",
        "problem_id": problem["problem_id"], "model": model, "turn": 0, "sample_idx": idx,
        "prompt": prompt, "completion": completion, "code": code, "code_found": True,
        "finish_reason": "stop", "n_tokens": (len(completion) + 3) // 4, "temperature": 0.0,
        "seed": seed, "skip_reason": None, "mutation": mutation,
    }


def reference_rows(problem: dict, config: ReferenceConfig) -> list[dict]:
    """The reference rollouts of one problem (none when it has no canonical solution)."""
    code = canonical_code(problem)
    if code is None:
        return []
    rows = []
    if config.include_canonical:
        rows.append(_row(problem, "canonical", 0, code, None, config.seed))
    for i in range(config.n_broken):
        for mutation in _pick(config.seed, problem["problem_id"], i, config.mutations):
            broken = broken_code(problem, code, mutation)
            if broken is not None and broken != code:
                rows.append(_row(problem, "canonical-broken", i, broken, mutation, config.seed))
                break
    return rows


def run(store: Store, config: ReferenceConfig, *, problems: str) -> StageResult:
    """Materialize the reference rollouts of problems artifact ``problems``."""
    def items() -> list[dict]:
        rows = store.read_table("problems", problems).to_pylist()
        rows.sort(key=lambda r: r["problem_id"])
        return rows[: config.limit] if config.limit is not None else rows

    def process(chunk: list[dict]) -> list[dict]:
        return [r for p in chunk for r in reference_rows(p, config)]

    return materialize(store, stage=STAGE, table=TABLE, version=VERSION, config=to_dict(config),
                       inputs={"problems": problems}, items=items, process=process,
                       shard_size=config.shard_size, schema=ROLLOUT_SCHEMA,
                       desc="reference rollouts")


def summary(store: Store, key: str) -> dict[str, Any]:
    """Rows per model and mutation of a reference rollouts artifact."""
    t = store.read_table(TABLE, key, columns=["model", "mutation"]).to_pylist()
    out: dict[str, int] = {}
    for r in t:
        name = r["model"] + (f"/{r['mutation']}" if r["mutation"] else "")
        out[name] = out.get(name, 0) + 1
    return out
