"""Values across the jail wall: tagged JSON that keeps tuples, sets, NaN/inf, big ints and dict keys.

`encode` runs inside the jail on whatever the candidate returned. It reads values through base-class
methods only (`int.__int__`, `list.__getitem__`, `dict.items`, ...), so an object with a lying
`__eq__`, `__iter__` or `__class__`, or a subclass of the expected type, is reduced to its plain value
or to an opaque `{"$o": type}` that equals nothing. `decode` turns the data back into plain builtins
(host side, and inside the jail to hand test code sanitized copies). This module has no imports of
ours: the supervisor prepends its source to the worker's when it starts a jail.
"""

import math

# Bind every builtin we use as a module global: in the jail a candidate may replace builtins.int & co,
# and globals are looked up before builtins, so these keep pointing at the real ones.
int, float, str, list, tuple, dict, set, frozenset = int, float, str, list, tuple, dict, set, frozenset
bytes, bytearray, complex, memoryview, type, hex = bytes, bytearray, complex, memoryview, type, hex
BaseException, object = BaseException, object
_type, _issub, _range = type, issubclass, range
_isnan, _isinf = math.isnan, math.isinf
MAX_DEPTH, MAX_ITEMS = 100, 2_000_000
# Set only inside the jail's two-process mode (guard.py), each in its own process: objects that are
# not plain data travel as handles {"$h": id} instead of opaque tags.
HOOKS = {"encode": None, "decode": None}


class TooBig(Exception):
    pass


def encode(x, depth=0, budget=None):
    """Serialize a value to tagged JSON data using base-class methods only (no candidate code runs)."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        raise TooBig("value too deep or too large to serialize")
    t = _type(x)
    if x is None or t is bool:
        return x
    if _issub(t, int):
        v = int.__int__(x)
        return {"$i": hex(v)} if v.bit_length() > 3000 else v
    if _issub(t, float):
        v = float.__float__(x)
        return {"$f": "nan"} if _isnan(v) else {"$f": "inf" if v > 0 else "-inf"} if _isinf(v) else v
    if _issub(t, str):
        return str.__str__(x)
    if _issub(t, (list, tuple)):
        base = list if _issub(t, list) else tuple
        n = base.__len__(x)
        items = [encode(base.__getitem__(x, k), depth + 1, budget) for k in _range(n)]
        return items if base is list else {"$t": items}
    if _issub(t, dict):
        return {"$d": [[encode(k, depth + 1, budget), encode(v, depth + 1, budget)]
                       for k, v in dict.items(x)]}
    if _issub(t, (set, frozenset)):
        base = set if _issub(t, set) else frozenset
        return {"$s" if base is set else "$fs": [encode(v, depth + 1, budget) for v in base.__iter__(x)]}
    if _issub(t, (bytes, bytearray)):
        return {"$b": bytes.hex(bytes(memoryview(x)))}
    if _issub(t, complex):
        return {"$c": [encode(complex.real.__get__(x)), encode(complex.imag.__get__(x))]}
    if HOOKS["encode"] is not None:
        return HOOKS["encode"](x)
    try:  # type.__getattribute__ skips a metaclass's own attribute hooks
        name = str.__str__(type.__getattribute__(t, "__qualname__"))
    except BaseException:  # a class with a hostile __qualname__ is still just opaque
        name = "?"
    return {"$o": name}


class _Opaque:
    """Stands in, inside the jail, for a returned object the judge cannot serialize: never equal, falsy."""

    __slots__ = ()

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    def __bool__(self):
        return False

    __hash__ = object.__hash__


def decode(d):
    """Tagged JSON data back to plain builtins (so test code in the jail sees only plain data)."""
    if _type(d) is list:
        return [decode(v) for v in d]
    if _type(d) is not dict:
        return d
    (tag, v), = d.items()
    if tag == "$t":
        return tuple(decode(e) for e in v)
    if tag in ("$s", "$fs"):
        return (set if tag == "$s" else frozenset)(decode(e) for e in v)
    if tag == "$d":
        return {decode(k): decode(e) for k, e in v}
    if tag == "$f":
        return float(v)
    if tag == "$i":
        return int(v, 16)
    if tag == "$b":
        return bytes.fromhex(v)
    if tag == "$c":
        return complex(decode(v[0]), decode(v[1]))
    if tag == "$h" and HOOKS["decode"] is not None:
        return HOOKS["decode"](v)
    return _Opaque()


def sanitized(fn):
    """Wrap a candidate callable so test code only ever sees plain-data copies of its results."""
    def call(*args, **kwargs):
        try:
            return decode(encode(fn(*args, **kwargs)))
        except TooBig:
            return _Opaque()
    return call
