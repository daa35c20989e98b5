"""Values across the jail wall: tagged JSON that keeps tuples, sets, NaN/inf, big ints and dict keys.

`encode` runs inside the jail on whatever the candidate returned. It reads values through base-class
methods only (`int.__int__`, `list.__getitem__`, `dict.items`, ...), so an object with a lying
`__eq__`, `__iter__` or `__class__`, or a subclass of the expected type, is reduced to its plain value
or to an opaque `{"$o": type}` that equals nothing. `decode` turns the data back into plain builtins
(host side, and inside the jail to hand test code plain-data copies). This module has no imports of
ours: the supervisor prepends its source to the worker's when it starts a jail.
"""

import math

# Bind every builtin we use as a module global: in the jail a candidate may replace builtins.int & co,
# and globals are looked up before builtins, so these keep pointing at the real ones.
int, float, str, list, tuple, dict, set, frozenset = int, float, str, list, tuple, dict, set, frozenset
bytes, bytearray, complex, memoryview, type, hex = bytes, bytearray, complex, memoryview, type, hex
BaseException, object = BaseException, object
_type, _issub, _range, _len = type, issubclass, range, len
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
    if t is type:  # a builtin type as a value (MBPP 533 passes `int`); by identity, no __eq__ runs
        for name, v in dict.items(_TYPES):
            if x is v:
                return {"$y": name}
    if HOOKS["encode"] is not None:
        return HOOKS["encode"](x)
    try:  # type.__getattribute__ skips a metaclass's own attribute hooks
        name = str.__str__(type.__getattribute__(t, "__qualname__"))
    except BaseException:  # a class with a hostile __qualname__ is still just opaque
        name = "?"
    return {"$o": name}


class _Opaque:
    """Stands in for a returned object the judge cannot serialize: it has no truth value and no
    equality (both raise TypeError), so no comparison or truth test involving it can pass."""

    __slots__ = ()

    def __eq__(self, other):
        raise TypeError("an opaque candidate object is not compared")

    __ne__ = __eq__

    def __bool__(self):
        raise TypeError("the truth value of an opaque candidate object is not judged")

    __hash__ = object.__hash__


TAGS = ("$t", "$s", "$fs", "$d", "$f", "$i", "$b", "$c", "$h", "$o", "$y")
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple, "dict": dict,
          "set": set, "frozenset": frozenset, "bytes": bytes, "complex": complex, "type": type}
MAX_HEX = 1 << 18  # hex digits of one tagged int (~1M bits): more is a decode bomb, not an answer
_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


class DecodeError(ValueError):
    """Data that is not a value of the tagged format, or that costs too much to rebuild."""


def _unique(vals):
    """Refuse a set/dict whose elements mostly share a hash: building it would cost O(n^2)."""
    if _len(vals) > 64 and _len({hash(v) for v in vals}) * 2 < _len(vals):
        raise DecodeError("set or dict keys collide in their hash (a decode bomb)")
    return vals


def decode(d, depth=0, budget=None):
    """Tagged JSON data back to plain builtins, under a cost budget (raises DecodeError).

    A JSON object with exactly one key that is a tag (TAGS) is that tagged value; any other JSON
    object is a dict with string keys (so the item contract can write `{"a": 1}`; use `$d` for other
    keys, or for a dict whose only key looks like a tag).
    """
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        raise DecodeError("value too deep or too large to decode")
    t = _type(d)
    if t is list:
        return [decode(v, depth + 1, budget) for v in d]
    if t is not dict:
        if t in (str, int, float, bool) or d is None:
            return d
        raise DecodeError("not JSON data: %s" % t.__name__)
    if _len(d) != 1 or next(iter(d)) not in TAGS:
        return {k: decode(v, depth + 1, budget) for k, v in dict.items(d)}
    (tag, v), = dict.items(d)
    if tag == "$h" and HOOKS["decode"] is not None:
        return HOOKS["decode"](v)
    if tag in ("$h", "$o"):
        return _Opaque()
    if tag == "$y":
        if v not in _TYPES:
            raise DecodeError("$y must name a builtin type")
        return _TYPES[v]
    if tag in ("$t", "$s", "$fs", "$d") and _type(v) is not list:
        raise DecodeError("%s needs a list" % tag)
    if tag == "$t":
        return tuple(decode(e, depth + 1, budget) for e in v)
    if tag in ("$s", "$fs"):
        return (set if tag == "$s" else frozenset)(_unique([decode(e, depth + 1, budget) for e in v]))
    if tag == "$d":
        pairs = []
        for e in v:
            if _type(e) is not list or _len(e) != 2:
                raise DecodeError("$d needs [key, value] pairs")
            pairs.append((decode(e[0], depth + 1, budget), decode(e[1], depth + 1, budget)))
        _unique([k for k, _ in pairs])
        return {k: e for k, e in pairs}
    if tag == "$f":
        if v not in _FLOATS:
            raise DecodeError("$f must be nan, inf or -inf")
        return _FLOATS[v]
    if tag == "$i":
        if _type(v) is not str or _len(v) > MAX_HEX:
            raise DecodeError("$i must be a hex string of at most %d digits" % MAX_HEX)
        budget[0] -= _len(v) // 64
        return int(v, 16)
    if tag == "$b":
        if _type(v) is not str:
            raise DecodeError("$b must be a hex string")
        budget[0] -= _len(v) // 64
        return bytes.fromhex(v)
    if _type(v) is not list or _len(v) != 2:  # "$c"
        raise DecodeError("$c needs [real, imag]")
    re, im = decode(v[0], depth + 1, budget), decode(v[1], depth + 1, budget)
    if _type(re) not in (int, float) or _type(im) not in (int, float):
        raise DecodeError("$c parts must be numbers")
    return complex(re, im)
