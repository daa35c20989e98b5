"""Judging rules: how what a candidate printed or returned is compared with what was expected.

All comparisons run in the supervisor, on data decoded by `codec.decode` (plain builtins), so no
candidate code (`__eq__`, `__float__`, ...) ever runs here. Every function here is total: a value
that cannot be compared (an overflow, a type mix, a value too big to render) makes the case fail,
never the judge. The rule that decided each case is recorded with it (`rule` in the case).

Rules, per kind (the `compare` field of call tests picks one):
- stdin: whitespace-separated tokens match one for one (trailing whitespace and newlines ignored).
  A token whose *expected* text has a '.' or an exponent is a float: it matches a numeric token
  within `atol` absolute (default 1e-6), plus `rtol` relative when the tests give one (default 0).
  Integers and words match exactly.
- call "python" (default): Python `==` on plain data, as the dataset's own `assert f(x) == y` does:
  tuples differ from lists, True == 1, 1 == 1.0, key order of dicts is irrelevant. Where the
  *expected* value (or an element of it) is a float, the returned number matches within
  atol + rtol * |expected| (atol from the tests, default 1e-9; rtol 1e-9); NaN matches NaN.
- call "json": the same, but tuples and lists are the same sequence (datasets whose expected values
  were written as JSON: APPS, TACO, LiveCodeBench convert returned tuples to lists).
- call "evalplus": evalplus 0.3.1's `unsafe_execute`: `out == exp`; if that fails and atol is not 0
  (atol 0 becomes 1e-6 when exp is a float or a list/tuple of floats): same type, same length, and
  numpy-style allclose with rtol 1e-7; plus its special oracles (`oracle`, below).
- assert `assert EXPR == LITERAL`: Python `==` between EXPR's value and the literal, on plain data.
- other asserts and whole `check()` functions: decided by the test code itself, in the jail's test
  process, where the candidate cannot reach.
"""

from __future__ import annotations

import math
import re

STDIN_ATOL = 1e-6
CALL_ATOL, CALL_RTOL = 1e-9, 1e-9
EVALPLUS_RTOL, EVALPLUS_FLOAT_ATOL = 1e-7, 1e-6
ORACLES = ("find_zero", "set_eq", "not_none", "always", "or_zero", "surface_area", "digit_distance")


class Incomparable(Exception):
    """The values cannot be compared by this rule (the case fails)."""


def stdin_rule(atol: float, rtol: float) -> str:
    return (f"stdin: tokens match one for one; a token whose expected text is a float (has '.' or an "
            f"exponent) matches within abs {atol:g}" + (f" + rel {rtol:g}" if rtol else "") + "; others exactly")


_FLOAT_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)  # what checkers print: no
# '_' separators, no non-ASCII digits, no 'inf'/'nan' (Python's float() takes all of those)


def _float(tok: str) -> float | None:
    if len(tok) > 400 or not _FLOAT_TEXT.match(tok):
        return None
    try:
        v = float(tok)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _is_float_text(tok: str) -> bool:
    return ("." in tok or "e" in tok.lower()) and _float(tok) is not None and not tok.lower().startswith(("nan", "inf"))


def stdin_equal(got: str, expected: str, atol: float = STDIN_ATOL, rtol: float = 0.0) -> bool:
    """Token-wise comparison with the float tolerance of stdin_rule."""
    g, e = got.split(), expected.split()
    if len(g) != len(e):
        return False
    for a, b in zip(g, e):
        if a == b:
            continue
        if not _is_float_text(b):
            return False
        x, y = _float(a), _float(b)
        if x is None or abs(x - y) > atol + rtol * abs(y):
            return False
    return True


def _num(x) -> bool:
    return type(x) in (int, float, bool)


def python_equal(got, expected, atol: float = CALL_ATOL, rtol: float = CALL_RTOL, seq_as_list: bool = False) -> bool:
    """Python == on plain data, with a float tolerance only where `expected` holds a float."""
    try:
        return _peq(got, expected, atol, rtol, seq_as_list, 0)
    except (RecursionError, OverflowError, ValueError, TypeError, MemoryError):
        return False


def _peq(g, e, atol, rtol, seq, depth) -> bool:
    if depth > 200:
        raise RecursionError
    te = type(e)
    if te is float:
        if not _num(g):
            return False
        g = float(g)
        if math.isnan(e) or math.isnan(g):
            return math.isnan(e) and math.isnan(g)
        if math.isinf(e) or math.isinf(g):
            return g == e
        return abs(g - e) <= atol + rtol * abs(e)
    if te in (list, tuple):
        tg = type(g)
        if seq:
            if tg not in (list, tuple):
                return False
        elif tg is not te:
            return False
        return len(g) == len(e) and all(_peq(a, b, atol, rtol, seq, depth + 1) for a, b in zip(g, e))
    if te is dict:
        if type(g) is not dict or len(g) != len(e):
            return False
        for k, v in e.items():
            if k not in g or not _peq(g[k], v, atol, rtol, seq, depth + 1):
                return False
        return True
    return bool(g == e)  # int, bool, str, None, bytes, complex, set, frozenset: exactly Python's ==


def _flat(x, out, depth=0):
    """Numbers of a (nested) list/tuple in order, with its shape, as numpy.asarray would see them."""
    if depth > 32:
        raise Incomparable("too deep")
    if _num(x):
        out.append(float(x))
        return ()
    if type(x) in (list, tuple):
        shapes = {_flat(v, out, depth + 1) for v in x}
        if len(shapes) > 1:
            raise Incomparable("ragged")
        return (len(x),) + (shapes.pop() if shapes else ())
    raise Incomparable(type(x).__name__)


def allclose(got, expected, rtol: float, atol: float) -> bool:
    """numpy.allclose(got, expected, rtol, atol) for numbers and nested lists/tuples of numbers."""
    a, b = [], []
    sa, sb = _flat(got, a), _flat(expected, b)
    if sa != sb and not (sb == () or sa == ()):  # a scalar broadcasts
        return False
    if sa == () and sb != ():
        a = a * len(b)
    elif sb == () and sa != ():
        b = b * len(a)
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y):
            return False
        if math.isinf(x) or math.isinf(y):
            if x != y:
                return False
            continue
        if abs(x - y) > atol + rtol * abs(y):
            return False
    return True


def _is_floats(x) -> bool:
    if type(x) is float:
        return True
    return type(x) in (list, tuple) and bool(x) and all(type(i) is float for i in x)


def _poly(xs, x):
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _surface_area(base_edge, height):
    slant = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 4 * (base_edge * slant) / 2)


def _digit_distance(a, b):
    s1, s2 = str(a), str(b)
    n = max(len(s1), len(s2))
    return sum(abs(int(x) - int(y)) for x, y in zip(s1.zfill(n), s2.zfill(n)))


def _set(xs) -> set:
    """set(xs) for candidate data, refusing elements that mostly share a hash (O(n^2) to build)."""
    xs = list(xs)
    if len(xs) > 64 and len({hash(x) for x in xs}) * 2 < len(xs):
        raise Incomparable("elements collide in their hash")
    return set(xs)


def evalplus_equal(out, exp, args, atol: float, oracle: str | None) -> bool:
    """evalplus 0.3.1's verdict for one input (see the module docstring)."""
    try:
        return _evalplus(out, exp, args, atol, oracle)
    except (Incomparable, RecursionError, OverflowError, ValueError, TypeError, ZeroDivisionError,
            MemoryError, AttributeError):
        return False


def _evalplus(out, exp, args, atol, oracle):
    if oracle == "not_none":  # exp is whether the reference returned something (an object will do)
        return bool(out == exp) if type(out) is bool else exp == (out is not None)
    if oracle == "find_zero":  # HumanEval/32: any root will do (evalplus 0.3.1 never counts it: a bug)
        return abs(_poly(*args, out)) <= atol
    if oracle == "always":  # Mbpp/164: `exact_match or True`
        return True
    exact = bool(out == exp)
    if oracle == "or_zero":  # Mbpp/295
        exact = exact or out == 0
    elif oracle == "surface_area":  # Mbpp/581
        exact = exact or abs(out - _surface_area(*args)) <= atol
    elif oracle == "digit_distance":  # Mbpp/558
        exact = exact or out == _digit_distance(*args)
    elif oracle == "set_eq":
        exact = _set(out) == _set(exp)
    if atol == 0 and _is_floats(exp):
        atol = EVALPLUS_FLOAT_ATOL
    if not exact and atol != 0:
        if type(out) is not type(exp):
            return False
        if type(exp) in (list, tuple) and len(out) != len(exp):
            return False
        return allclose(out, exp, EVALPLUS_RTOL, atol)
    return bool(exact)


def call_rule(mode: str, atol: float, oracle: str | None) -> str:
    if mode == "evalplus":
        return (f"call/evalplus: out == exp, else same type and allclose(rtol {EVALPLUS_RTOL:g}, atol "
                f"{atol:g}; 1e-6 when 0 and exp is float)" + (f"; oracle {oracle}" if oracle else ""))
    seq = "tuples = lists" if mode == "json" else "tuples != lists"
    return (f"call/{mode}: Python == on plain data ({seq}, True == 1); where expected is a float, "
            f"|got - exp| <= {atol:g} + {CALL_RTOL:g}*|exp|")


EQ_RULE = "assert: EXPR evaluated in the jail's test process, compared here with Python == to the literal"
TRUTH_RULE = "assert: the condition evaluated in the jail's test process (pristine builtins), its truth value"
JAIL_RULE = "statement/check(): run in the jail's test process (pristine builtins); passes when it raises nothing"


def truth(got) -> bool | None:
    """Truth value of a decoded value; None when it has none we judge (an opaque object): then
    neither `assert x` nor `assert not x` passes."""
    try:
        return bool(got)
    except (RecursionError, OverflowError, ValueError, TypeError):
        return None
