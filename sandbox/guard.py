"""Two-process mode, for tests whose verdict must be computed inside the jail.

`assert candidate(x)`, `assert abs(candidate(x) - 1.5) < 1e-6` or a whole HumanEval `check()` decide
pass/fail in the jail; if candidate code ran in the process that reports, it could forge the report
(write `true` to the report pipe, read a nonce off the stack). So the reporting process T never runs
candidate code: it forks C, which alone executes the candidate and answers calls over a pipe pair
with plain data; objects that are not plain data stay in C and reach T as handles (`Remote`). C has
no report pipe, cannot open T's fds or memory (both are non-dumpable, seccomp forbids ptrace), and
killing or stopping T only fails the case. Like worker.py this runs only inside the jail (its source
is concatenated after codec.py), and it imports nothing of ours.
"""

import json
import os

if "encode" not in globals():  # run as a module (tests); in the jail codec.py's source is prepended
    from sandbox.codec import HOOKS, TooBig, decode, encode  # noqa: F401

_dumps_g, _loads_g, _read_g, _write_g = json.dumps, json.loads, os.read, os.write


class CandidateError(Exception):
    """Raised in T for an exception of the candidate whose type is not a builtin exception."""


def _send(fd, obj):
    data = (_dumps_g(obj) + "\n").encode()
    while data:
        data = data[_write_g(fd, data):]


def _recv(fd, buf):
    while b"\n" not in buf[0]:
        chunk = _read_g(fd, 1 << 20)
        if not chunk:
            raise CandidateError("the candidate's process ended before answering")
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\n", 1)
    return _loads_g(line)


def serve(ns, entry, rfd, wfd):
    """In C: expose the candidate's namespace; answer {"op", "h", "args"/"name"} requests until EOF."""
    objs = []

    def handle(x):
        objs.append(x)
        return {"$h": len(objs) - 1}

    HOOKS["encode"], HOOKS["decode"] = handle, objs.__getitem__
    buf = [b""]
    names = {}
    for k, v in list(ns.items()):
        if not k.startswith("__"):
            try:
                names[k] = encode(v)
            except TooBig:
                names[k] = handle(v)
    _send(wfd, {"names": names, "entry": encode(entry) if entry is not None else None})
    while True:
        try:
            req = _recv(rfd, buf)
        except CandidateError:
            return
        try:
            target = objs[req["h"]]
            if req["op"] == "call":
                out = target(*decode(req["args"]), **decode(req["kwargs"]))
            else:
                out = getattr(target, req["name"])
            reply = {"v": encode(out)}
        except BaseException as e:  # the candidate's own exception, handed to T by name
            reply = {"exc": type(e).__name__, "msg": str(e)[:500]}
        _send(wfd, reply)


class Remote:
    """T's view of an object living in C: callable and attribute access go over the pipe; it equals
    nothing and is falsy, like an opaque value judged outside."""

    __slots__ = ("_h",)

    def __init__(self, h):
        object.__setattr__(self, "_h", h)

    def __call__(self, *args, **kwargs):
        return _RPC["call"]({"op": "call", "h": self._h, "args": encode(list(args)), "kwargs": encode(kwargs)})

    def __getattr__(self, name):
        return _RPC["call"]({"op": "getattr", "h": self._h, "name": name})

    def __eq__(self, other):
        return False

    def __bool__(self):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return "<candidate object #%d>" % self._h


_RPC = {}


def connect(rfd, wfd, builtin_excs):
    """In T: wire Remote to C's pipes; returns C's hello: {"names", "entry"} decoded, or its failure
    ({"syntax"}, {"exc"}, {"missing"}) as C reported it."""
    buf = [b""]

    def call(req):
        _send(wfd, req)
        rep = _recv(rfd, buf)
        if "exc" in rep:
            cls = builtin_excs.get(rep["exc"])
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls = CandidateError
            raise cls("%s: %s" % (rep["exc"], rep.get("msg", "")) if cls is CandidateError else rep.get("msg", ""))
        return decode(rep.get("v"))

    def encode_remote(x):  # a Remote handed back to C as an argument is C's own object again
        if type(x) is Remote:
            return {"$h": object.__getattribute__(x, "_h")}
        return {"$o": type(x).__name__}

    HOOKS["decode"], HOOKS["encode"], _RPC["call"] = Remote, encode_remote, call
    hello = _recv(rfd, buf)
    if "names" in hello:
        hello["names"] = {k: decode(v) for k, v in hello["names"].items()}
        hello["entry"] = decode(hello["entry"]) if hello.get("entry") is not None else None
    return hello
