"""`python -m sandbox judge IN.jsonl [-o OUT.jsonl] [--workers N] [--isolation auto|firejail|none]`
and `python -m sandbox doctor` (prove the isolation on this host; exit 1 when a check fails)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from sandbox import jail, judging as judge_mod

CHUNK = 2000  # items judged per batch, so huge files stream


def _judge(args) -> int:
    src = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8")
    n, t0 = 0, time.monotonic()
    with src, out:
        batch: list = []
        for lineno, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                batch.append(json.loads(line))
            except ValueError as e:
                batch.append(f"line {lineno} of {args.input} is not JSON ({e})")
            if len(batch) >= CHUNK:
                n += _flush(batch, out, args)
        n += _flush(batch, out, args)
    print(f"judged {n} items in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0


def _flush(batch: list, out, args) -> int:
    items = [b if isinstance(b, dict) else {"id": None, "code": None, "tests": None, "_error": b} for b in batch]
    results = judge_mod.judge(items, workers=args.workers, isolation=args.isolation)
    for item, res in zip(items, results):
        if "_error" in item:
            res["cases"][0]["stderr"] = f"[judge] bad item: {item['_error']}"
        out.write(json.dumps(res) + "\n")
    batch.clear()
    return len(items)


def _doctor(args) -> int:
    try:
        mode = judge_mod.resolve_isolation("firejail")
        checks = judge_mod.prove(mode, force=True)
    except jail.SandboxUnavailable as e:
        print(f"FAIL  {e}")
        return 1
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}")
    slot = judge_mod._pool(1, mode)[0]
    print(f"{'ok  ' if slot.home_bounded else 'warn'}  home is a {jail.HOME_MB} MB tmpfs: "
          f"{'yes' if slot.home_bounded else 'no (mount failed; see the log): disk use is bounded per file only'}")
    res = judge_mod.judge([{"id": "doctor", "code": "print(input()[::-1])",
                            "tests": {"kind": "stdin", "cases": [{"input": "abc\n", "output": "cba"}]}}])[0]
    print(f"{'ok  ' if res['passed'] else 'FAIL'}  a benign sample passes in the jail: "
          f"{res['cases'][0]['status']} ({res['isolation']})")
    return 0 if all(ok for _, ok, _ in checks) and res["passed"] else 1


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ap = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    j = sub.add_parser("judge", help="judge a JSONL file of items, one result line per item, same order")
    j.add_argument("input", help="JSONL file of items ('-' for stdin)")
    j.add_argument("-o", "--output", help="JSONL results (default: stdout)")
    j.add_argument("--workers", type=int, default=None, help="parallel jails (default: 2 per CPU, at most 8)")
    j.add_argument("--isolation", choices=["auto", "firejail", "none"], default="auto",
                   help="'none' runs untrusted code without isolation (logged loudly, recorded per result)")
    j.set_defaults(func=_judge)
    d = sub.add_parser("doctor", help="prove the isolation on this host; exit 1 when a check fails")
    d.set_defaults(func=_doctor)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except jail.SandboxUnavailable as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
