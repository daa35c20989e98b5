"""The wire between the test process T and the candidate process C (both inside the jail).

Every verdict that needs the candidate is computed by test code running in T: a process forked
from the worker, with pristine builtins and modules, that never runs candidate code. The candidate
runs in C, forked from a zygote that has never seen a job, behind the fence (fence.py). T reaches
C only through this wire: it asks for named values and calls them; C answers with plain data
(codec.encode, base-class methods only) or, for objects that are not data, with handles that stay
in C and appear in T as `Remote` (callable, attribute access over the wire, equal to nothing,
falsy). A reply is read under a size cap and decoded under a cost budget; anything malformed is
the candidate's failure (CandidateError), never the judge's. Like worker.py this runs only inside
the jail (concatenated after codec.py), and it imports nothing of ours.
"""

import json
import json.decoder
import os

if "encode" not in globals():  # run as a module (tests); in the jail codec.py's source is prepended
    from sandbox.codec import HOOKS, DecodeError, TooBig, decode, encode  # noqa: F401

# Bound before any candidate runs: in C the candidate may patch builtins or json; the wire must not
# depend on either (in the jail these bindings are shared by every concatenated module).
len, getattr, isinstance, issubclass, callable, iter, next = len, getattr, isinstance, issubclass, callable, iter, next
_read_g, _write_g = os.read, os.write
_scan = json.decoder.JSONDecoder().scan_once  # the C scanner: no Python-level lookups
_esc = json.decoder.scanstring and __import__("_json").encode_basestring_ascii
_int_repr, _float_repr, _str_join = int.__repr__, float.__repr__, str.join
MAX_REPLY = 16 << 20  # bytes of one reply from C


def _dumps_g(x, depth=0):
    """JSON text of plain data (what codec.encode makes), with base-class methods only."""
    if depth > 1000:
        raise TooBig("value too deep to send")
    t = type(x)
    if x is None:
        return "null"
    if t is bool:
        return "true" if x else "false"
    if t is int:
        return _int_repr(x)
    if t is float:
        return _float_repr(x)
    if t is str:
        return _esc(x)
    if t is list:
        return "[" + _str_join(",", [_dumps_g(v, depth + 1) for v in x]) + "]"
    if t is dict:
        return "{" + _str_join(",", [_esc(str.__str__(k)) + ":" + _dumps_g(v, depth + 1) for k, v in dict.items(x)]) + "}"
    raise TooBig("not plain data: %s" % t.__name__)


def _loads_g(line):
    text = line.decode("utf-8", "replace")
    obj, end = _scan(text, 0)
    return obj


class CandidateError(Exception):
    """Raised in T for a failure of the candidate: its own exception (when its type is not a builtin
    exception), a reply that is garbled or too large, or its process ending."""


def _send(fd, obj):
    data = (_dumps_g(obj) + "\n").encode()
    while data:
        data = data[_write_g(fd, data):]


def _recv(fd, buf, limit=MAX_REPLY):
    """One JSON line from fd; linear in its length, and refused past `limit` bytes."""
    scanned = 0
    while True:
        nl = buf[0].find(b"\n", scanned)
        if nl >= 0:
            break
        if len(buf[0]) > limit:
            raise CandidateError("reply over %d bytes" % limit)
        scanned = len(buf[0])
        chunk = _read_g(fd, 1 << 20)
        if not chunk:
            raise CandidateError("the candidate's process ended before answering")
        buf[0] += chunk
    line, buf[0] = buf[0][:nl], buf[0][nl + 1:]
    try:
        return _loads_g(line)
    except (ValueError, RecursionError, MemoryError) as e:
        raise CandidateError("garbled reply (%s)" % type(e).__name__) from None


def serve(ns, entry, names, rfd, wfd, flush=None):
    """In C: send the hello (the entry point and the requested `names`), then answer
    {"op": "call"|"getattr", "h", ...} requests until T closes the wire. `flush` runs before each
    answer, so what the candidate printed is on disk when T reports the case."""
    objs = []

    def handle(x):
        objs.append(x)
        return {"$h": len(objs) - 1}

    HOOKS["encode"], HOOKS["decode"] = handle, objs.__getitem__
    buf = [b""]
    found = {}
    for k in names:
        if k in ns:
            v = ns[k]
            if type(v).__name__ == "module":  # T imports a trusted copy itself (by the test's name)
                found[k] = {"$m": str(getattr(v, "__name__", k))}
                continue
            try:
                found[k] = encode(v)
            except TooBig:
                found[k] = handle(v)
    _send(wfd, {"names": found, "entry": encode(entry) if entry is not None else None})
    while True:
        try:
            req = _recv(rfd, buf, 1 << 30)
        except CandidateError:
            return
        try:
            target = objs[req["h"]]
            op = req["op"]
            if op == "call":
                out = target(*decode(req["args"]), **decode(req["kwargs"]))
            elif op == "getattr":
                out = getattr(target, req["name"])
            elif op == "setattr":
                out = setattr(target, req["name"], decode(req["value"]))
            else:
                raise TypeError("unsupported operation")
            reply = {"v": encode(out)}
        except TooBig:
            reply = {"too_big": True}
        except BaseException as e:  # the candidate's own exception, handed to T by name
            try:
                reply = {"exc": type(e).__name__, "msg": str(e)[:500]}
            except BaseException:  # a hostile __str__: the name is enough
                reply = {"exc": "Exception", "msg": ""}
        if flush is not None:
            flush()
        _send(wfd, reply)


class Remote:
    """T's view of an object living in C: callable and attribute access go over the wire; it equals
    nothing and is falsy, like an opaque value judged outside."""

    __slots__ = ("_h",)

    def __init__(self, h):
        object.__setattr__(self, "_h", h)

    def __call__(self, *args, **kwargs):
        return _RPC["call"]({"op": "call", "h": self._h, "args": encode(list(args)), "kwargs": encode(kwargs)})

    def __getattr__(self, name):
        return _RPC["call"]({"op": "getattr", "h": self._h, "name": name})

    def __setattr__(self, name, value):
        _RPC["call"]({"op": "setattr", "h": self._h, "name": name, "value": encode(value)})

    # Nor is it a container: len(), `in`, iteration and indexing would run the candidate's own
    # __len__/__contains__/__iter__/__getitem__, which can answer anything (a "contains everything"
    # object). Values that are real containers arrive as plain data, where all of these work.
    def _refuse(self, *args):
        raise CandidateError("a candidate object (not plain data) is not measured, searched or indexed")

    __len__ = __iter__ = __contains__ = __getitem__ = __setitem__ = _refuse

    # A candidate object has no truth value and equals nothing here: `assert not candidate(x)` or
    # `assert candidate(x) != y` must not pass because an object is opaque (Python would call its
    # own __bool__/__ne__, which we never run). The test fails with this error instead.
    def __bool__(self):
        raise CandidateError("the truth value of a candidate object (not plain data) is not judged")

    def __eq__(self, other):
        raise CandidateError("a candidate object (not plain data) is not compared")

    __ne__ = __eq__
    __hash__ = object.__hash__

    def __repr__(self):
        return "<candidate object #%d>" % object.__getattribute__(self, "_h")


_RPC = {}


def connect(rfd, wfd, builtin_excs):
    """In T: wire Remote to C's pipes; returns C's hello: {"names", "entry"} decoded, or its failure
    ({"syntax"}, {"exc"}, {"missing"}) as C reported it. Raises CandidateError for a garbled hello."""
    buf = [b""]

    def call(req):
        _send(wfd, req)
        rep = _recv(rfd, buf)
        if type(rep) is not dict:
            raise CandidateError("garbled reply")
        if rep.get("too_big"):
            raise TooBig("the candidate's value is too deep or too large to serialize")
        if "exc" in rep:
            name = str(rep["exc"])[:100] or "Exception"
            cls = builtin_excs.get(name)
            if not (isinstance(cls, type) and issubclass(cls, Exception)) or cls is AssertionError:
                # AssertionError too: a candidate raising one must not look like the test's own assert
                raise CandidateError("%s: %s" % (name, str(rep.get("msg", ""))[:500]))
            raise cls(str(rep.get("msg", ""))[:500])
        try:
            return decode(rep.get("v"))
        except (DecodeError, RecursionError, MemoryError, TypeError, ValueError) as e:
            raise CandidateError("returned value could not be decoded (%s)" % type(e).__name__) from None

    def encode_remote(x):  # a Remote handed back to C as an argument is C's own object again
        if type(x) is Remote:
            return {"$h": object.__getattribute__(x, "_h")}
        return {"$o": type(x).__name__}

    HOOKS["decode"], HOOKS["encode"], _RPC["call"] = Remote, encode_remote, call
    hello = _recv(rfd, buf)
    if type(hello) is not dict:
        raise CandidateError("garbled hello")
    if "names" in hello:
        names = {}
        if type(hello["names"]) is not dict:
            raise CandidateError("garbled hello")
        for k, v in hello["names"].items():
            if type(v) is dict and "$m" in v and len(v) == 1:
                names[k] = ("module", str(v["$m"]))
            else:
                try:
                    names[k] = ("value", decode(v))
                except (DecodeError, RecursionError, TypeError, ValueError):
                    raise CandidateError("garbled hello") from None
        hello["names"] = names
        try:
            hello["entry"] = decode(hello["entry"]) if hello.get("entry") is not None else None
        except (DecodeError, RecursionError, TypeError, ValueError):
            raise CandidateError("garbled hello") from None
    return hello
