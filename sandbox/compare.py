"""Judging rules: how what a candidate printed or returned is compared with what was expected.

All comparisons run in the supervisor, on data decoded by `codec.decode` (plain builtins), so no
candidate code (`__eq__`, `__float__`, ...) ever runs here. Each rule is recorded with the result as
`judge_rule`.
"""

from __future__ import annotations

import math

FLOAT_TOL = 1e-6
STDIN_RULE = ("stdin: whitespace-separated tokens must match one for one (trailing whitespace and "
              "newlines ignored); a token whose expected text has a '.' and that parses as a float on "
              f"both sides matches within abs or rel {FLOAT_TOL:g}")
CALL_RTOL = 1e-9
CALL_RULE = ("call: return value serialized in the jail (tuples as lists, NaN/inf tagged), compared here "
             "structurally; bool matches only bool, NaN matches NaN, numbers match when "
             "|got - expected| <= atol + {rtol:g} * |expected| (atol {atol:g})")
EXPR_RULE = ("assert: `assert EXPR == LITERAL` evaluates EXPR in the jail and compares here with Python "
             "== on plain data; other asserts evaluate the whole condition in the jail and take its "
             "truth value here; test code sees candidate functions through a wrapper that returns "
             "plain-data copies")


def _float(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


def stdin_equal(got: str, expected: str) -> bool:
    """Token-wise comparison with the float tolerance of STDIN_RULE."""
    g, e = got.split(), expected.split()
    if len(g) != len(e):
        return False
    for a, b in zip(g, e):
        if a == b:
            continue
        if "." not in b:
            return False
        x, y = _float(a), _float(b)
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return False
        if abs(x - y) > FLOAT_TOL and abs(x - y) > FLOAT_TOL * abs(y):
            return False
    return True


def _json_key(k) -> str | None:
    """The key JSON would write for a dict key (what an expected value loaded from JSON has)."""
    if isinstance(k, str):
        return k
    if isinstance(k, bool) or k is None:
        return {True: "true", False: "false", None: "null"}[k]
    if isinstance(k, (int, float)):
        return str(k)
    return None


def json_equal(got, expected, atol: float = 1e-9, rtol: float = CALL_RTOL) -> bool:
    """Structural equality as in CALL_RULE: `got` from the jail (decoded), `expected` from JSON."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is bool and type(expected) is bool and got == expected
    if isinstance(expected, (int, float)) and type(got) in (int, float):
        if type(expected) is int and type(got) is int:
            return got == expected
        g, e = float(got), float(expected)
        if math.isnan(e) or math.isnan(g):
            return math.isnan(e) and math.isnan(g)
        if math.isinf(e) or math.isinf(g):
            return g == e
        return abs(g - e) <= atol + rtol * abs(e)
    if isinstance(expected, str) or expected is None:
        return type(got) is type(expected) and got == expected
    if isinstance(expected, (list, tuple)):
        return (type(got) in (list, tuple) and len(got) == len(expected)
                and all(json_equal(a, b, atol, rtol) for a, b in zip(got, expected)))
    if isinstance(expected, dict):
        if type(got) is not dict or len(got) != len(expected):
            return False
        keyed = {_json_key(k): v for k, v in got.items()}
        if None in keyed or len(keyed) != len(got) or set(keyed) != {str(k) for k in expected}:
            return False
        return all(json_equal(keyed[str(k)], v, atol, rtol) for k, v in expected.items())
    return False


def python_equal(got, literal) -> bool:
    """Python `==` between two plain-data values (no candidate objects reach this)."""
    try:
        return bool(got == literal)
    except RecursionError:
        return False


def truthy(got) -> bool:
    """Truth value of a decoded value; an opaque object (unserializable) counts as false."""
    return bool(got)
