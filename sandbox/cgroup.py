"""Per-sample resource control: one cgroup per jail slot, holding the zygote and every candidate.

RLIMITs bound each process; a sample can fork, map shared memory or fill its tmpfs home, so the
sample as a whole is bounded here (host side, root): memory (anonymous, shm, memfd and tmpfs pages
all count; swap is closed), pids (processes and threads) and CPU (at most one CPU's worth, so fork
fan-out cannot multiply the time limit). The zygote is moved in when its jail starts; candidates are
born inside. The OOM-kill counter tells a kill by the sample's own memory limit (the candidate's
`memory_limit`) from a kill from outside (the judge's `sandbox_error`).

cgroup v1 (separate memory, pids and cpu hierarchies) and v2 (unified, with those controllers
delegated to the cgroup we run in) are both supported. The slot cgroups are created under the
cgroup the supervisor itself runs in, so they stay inside whatever limits its host gives it.
"""

from __future__ import annotations

import os

ROOT = "/sys/fs/cgroup"
SAMPLE_PIDS = 64  # processes + threads of one sample (the zygote included)
CPU_PERIOD_US = 100_000
SLACK_MB = 16  # on top of memory_mb: what the zygote allocates while serving a sample


class CgroupError(RuntimeError):
    """Per-sample limits cannot be set up; the message says what is missing."""


def _own(controller: str | None) -> str:
    """Our cgroup path in a v1 hierarchy (controller) or in v2 (None), from /proc/self/cgroup."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if (controller is None and ctrls == "") or (controller and controller in ctrls.split(",")):
                return path
    raise CgroupError(f"no {controller or 'v2'} cgroup in /proc/self/cgroup")


def _write(path: str, value) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def detect() -> str:
    """'v1' or 'v2' when the memory, pids and cpu controllers are usable here; else raise."""
    if all(os.path.isdir(f"{ROOT}/{c}") and os.path.exists(f"{ROOT}/{c}/cgroup.procs") for c in ("memory", "pids", "cpu")):
        return "v1"
    if os.path.exists(f"{ROOT}/cgroup.controllers"):
        have = _read(f"{ROOT}/cgroup.controllers").split()
        if {"memory", "pids", "cpu"} <= set(have):
            return "v2"
    raise CgroupError("no cgroup with the memory, pids and cpu controllers under /sys/fs/cgroup "
                      "(v1 hierarchies or v2 with them enabled); per-sample limits need one")


class SlotCgroup:
    """The cgroup(s) of one jail slot: `<our cgroup>/ctrl-sandbox/slot<N>` in each hierarchy."""


    def __init__(self, index: int):
        self.version = detect()
        self.index = index
        name = f"ctrl-sandbox/slot{index}"  # slot indices are exclusive host-wide (jail.claim)
        if self.version == "v1":
            self.dirs = {c: f"{ROOT}/{c}{_own(c).rstrip('/')}/{name}" for c in ("memory", "pids", "cpu")}
        else:
            base = f"{ROOT}{_own(None).rstrip('/')}"
            self._delegate(base)
            self.dirs = {c: f"{base}/{name}" for c in ("memory", "pids", "cpu")}
        for d in set(self.dirs.values()):
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as e:
                raise CgroupError(f"cannot create cgroup {d}: {e}") from e
        if self.version == "v2":
            parent = os.path.dirname(self.dirs["memory"])
            _write(f"{parent}/cgroup.subtree_control", "+memory +pids +cpu")
        self.memory_mb = None
        self._limits()

    @staticmethod
    def _delegate(base: str) -> None:
        try:
            _write(f"{base}/cgroup.subtree_control", "+memory +pids +cpu")
        except OSError as e:
            raise CgroupError(f"cannot enable memory, pids and cpu for child cgroups of {base} ({e}); "
                              "on cgroup v2 the supervisor must run in a cgroup with delegated controllers "
                              "and no processes of its own besides a leaf (e.g. systemd-run --scope -p Delegate=yes)") from e

    def _limits(self) -> None:
        if self.version == "v1":
            _write(f"{self.dirs['pids']}/pids.max", SAMPLE_PIDS)
            _write(f"{self.dirs['cpu']}/cpu.cfs_period_us", CPU_PERIOD_US)
            _write(f"{self.dirs['cpu']}/cpu.cfs_quota_us", CPU_PERIOD_US)
            try:
                _write(f"{self.dirs['memory']}/memory.swappiness", 0)
            except OSError:
                pass
        else:
            _write(f"{self.dirs['pids']}/pids.max", SAMPLE_PIDS)
            _write(f"{self.dirs['cpu']}/cpu.max", f"{CPU_PERIOD_US} {CPU_PERIOD_US}")
            try:
                _write(f"{self.dirs['memory']}/memory.swap.max", 0)
            except OSError:
                pass

    def set_memory(self, memory_mb: int) -> None:
        """Limit the sample to memory_mb (+ SLACK_MB); no-op when unchanged."""
        if memory_mb == self.memory_mb:
            return
        limit = (int(memory_mb) + SLACK_MB) << 20
        d = self.dirs["memory"]
        try:
            if self.version == "v1":
                memsw = f"{d}/memory.memsw.limit_in_bytes"
                has_sw = os.path.exists(memsw)
                # memsw must stay >= the memory limit: order the two writes by direction, from
                # the limit in force (a restarted slot reuses its cgroup: our memo may be unset)
                current = int(_read(f"{d}/memory.limit_in_bytes").strip() or 0)
                if has_sw and limit > current:
                    _write(memsw, limit)
                _write(f"{d}/memory.limit_in_bytes", limit)
                if has_sw:
                    _write(memsw, limit)
            else:
                _write(f"{d}/memory.max", limit)
        except OSError as e:
            raise CgroupError(f"cannot set the memory limit of {d} to {memory_mb} MB: {e}") from e
        self.memory_mb = memory_mb

    def add(self, host_pid: int) -> None:
        """Move a process (the zygote) into the slot's cgroup(s)."""
        for d in dict.fromkeys(self.dirs.values()):
            _write(f"{d}/cgroup.procs", host_pid)

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in this cgroup so far."""
        d = self.dirs["memory"]
        text = _read(f"{d}/memory.oom_control" if self.version == "v1" else f"{d}/memory.events")
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        return 0

    def procs(self) -> list[int]:
        return [int(p) for p in _read(f"{self.dirs['pids']}/cgroup.procs").split()]

    def usage(self) -> dict:
        """Current memory bytes and pids of the slot (for the self-test and doctor)."""
        d, p = self.dirs["memory"], self.dirs["pids"]
        mem = _read(f"{d}/memory.usage_in_bytes" if self.version == "v1" else f"{d}/memory.current")
        return {"memory": int(mem), "pids": int(_read(f"{p}/pids.current"))}

    def remove(self) -> None:
        """Remove the (empty) cgroups; a cgroup still holding processes stays and is logged by the caller."""
        for d in dict.fromkeys(self.dirs.values()):
            try:
                os.rmdir(d)
            except OSError:
                pass
        for d in dict.fromkeys(os.path.dirname(x) for x in self.dirs.values()):
            try:
                os.rmdir(d)
            except OSError:  # other slots of this process still use it
                pass
