"""The fence: a seccomp filter each candidate process installs on itself before it runs any code.

firejail's own filter keeps the jail away from the host; this one keeps a candidate away from the
rest of the jail. Worker, zygote and test process run as the same slot user as the candidate (firejail
allows one uid), and a uid may signal, renice or re-limit its own processes. So before exec'ing the
candidate, its process (C) denies itself, with EPERM, and for all its descendants:
- sending any signal (kill, tkill, tgkill, sigqueue, pidfd_send_signal) and signal routes through
  file ownership (fcntl F_SETOWN/F_SETOWN_EX/F_SETSIG, ioctl FIOSETOWN/SIOCSPGRP/TIOCSPGRP/TIOCSTI);
- changing another process: sched_set*, setpriority, ioprio_set unless aimed at itself alone (pid/
  who 0 of PRIO_PROCESS / IOPRIO_WHO_PROCESS: PRIO_USER 0 would renice every process of the uid),
  and ptrace, process_vm_*, kcmp, pidfd_getfd, perf_event_open, move/migrate_pages;
- changing its own limits (prlimit64/setrlimit), except reading them and RLIMIT_STACK: a sample
  that lowered its own RLIMIT_CPU would die by a SIGKILL its limits do not explain;
- channels that outlive a process into the next sample: SysV IPC (shmget/semget/msgget), POSIX
  message queues (mq_open) and kernel keyrings (add_key/request_key/keyctl);
- ways around seccomp or namespaces: io_uring_setup, userfaultfd, setns, unshare; any syscall of a
  foreign ABI (x32, or 32-bit on x86_64);
- leaving its process group (setpgid, setsid): every process of a sample stays in the group C
  leads, so one killpg ends them all, faster than any fork bomb refills the cgroup's pids.
Nothing is killed: a denied call fails with EPERM, so what the candidate tries stays its own verdict.
Like worker.py this runs only inside the jail (concatenated), and it imports nothing of ours.
"""

import ctypes
import platform
import struct

_ERRNO_EPERM = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_ALLOW = 0x7FFF0000
_LD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K

# Per architecture: (audit arch, always denied, conditional, fcntl nr, ioctl nr). A conditional
# syscall is allowed only when every (argument index, value) of one of its forms holds, else denied.
_SELF = ((0, 0),)  # the first argument is 0: the calling process itself
_X86 = {"prlimit64": 302, "setrlimit": 160, "sched_setaffinity": 203, "sched_setscheduler": 144,
        "sched_setparam": 142, "sched_setattr": 314, "setpriority": 141, "ioprio_set": 251}
_ARM = {"prlimit64": 261, "setrlimit": 164, "sched_setaffinity": 122, "sched_setscheduler": 119,
        "sched_setparam": 118, "sched_setattr": 274, "setpriority": 140, "ioprio_set": 30}
RLIMIT_STACK = 3


def _conditional(nrs):
    return [
        # read a limit of itself (new == NULL), or change its own stack limit (deep recursion idiom);
        # no other limit: a sample that lowered its own RLIMIT_CPU would die by a SIGKILL its limits
        # do not explain, i.e. pass for a kill from outside
        (nrs["prlimit64"], (((0, 0), (2, 0)), ((0, 0), (1, RLIMIT_STACK)))),
        (nrs["setrlimit"], (((0, RLIMIT_STACK),),)),
        (nrs["sched_setaffinity"], (_SELF,)), (nrs["sched_setscheduler"], (_SELF,)),
        (nrs["sched_setparam"], (_SELF,)), (nrs["sched_setattr"], (_SELF,)),
        (nrs["setpriority"], (((0, 0), (1, 0)),)),  # PRIO_PROCESS of itself (PRIO_USER 0 = every process of the uid)
        (nrs["ioprio_set"], (((0, 1), (1, 0)),)),  # IOPRIO_WHO_PROCESS of itself
    ]


_ARCH = {
    "x86_64": (0xC000003E,
               [62, 200, 234, 129, 297, 424, 438, 101, 310, 311, 312, 298, 29, 64, 68, 240, 308, 272,
                248, 249, 250, 425, 323, 440, 256, 279, 109, 112],
               _conditional(_X86), 72, 16),
    "aarch64": (0xC00000B7,  # numbers from the asm-generic table; not exercised on our CI host
                [129, 130, 131, 138, 240, 424, 438, 117, 270, 271, 272, 241, 194, 190, 186, 180, 268, 97,
                 217, 218, 219, 425, 282, 440, 238, 239, 154, 157],
                _conditional(_ARM), 25, 29),
}
_FCNTL_DENY = (8, 15, 10)  # F_SETOWN, F_SETOWN_EX, F_SETSIG
_IOCTL_DENY = (0x8901, 0x8902, 0x5410, 0x5412)  # FIOSETOWN, SIOCSPGRP, TIOCSPGRP, TIOCSTI


def _arg(k, hi=False):
    return 16 + 8 * k + (4 if hi else 0)  # offsetof(seccomp_data, args[k]), little-endian halves


def _form(conds):
    """Instructions that return ALLOW when every (arg, value) holds and fall through otherwise."""
    out = []
    for k, (arg, value) in enumerate(conds):
        past = 4 * (len(conds) - k)  # from this condition's first instruction to just past the ALLOW
        out += [(_LD, 0, 0, _arg(arg)), (_JEQ, 0, past - 1, value), (_LD, 0, 0, _arg(arg, True)),
                (_JEQ, 0, past - 3, 0)]
    return out + [(_RET, 0, 0, _ALLOW)]


def program(machine=None):
    """The filter as a list of (code, jt, jf, k); None when this architecture is not supported."""
    spec = _ARCH.get(machine or platform.machine())
    if spec is None:
        return None
    arch, deny, conditional, fcntl_nr, ioctl_nr = spec
    p = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, _ERRNO_EPERM), (_LD, 0, 0, 0)]
    if arch == 0xC000003E:  # x32 syscalls share the arch: deny the whole range
        p += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _ERRNO_EPERM)]
    for nr in deny:
        p += [(_JEQ, 0, 1, nr), (_RET, 0, 0, _ERRNO_EPERM)]
    for nr, forms in conditional:
        block = [ins for form in forms for ins in _form(form)] + [(_RET, 0, 0, _ERRNO_EPERM)]
        p += [(_JEQ, 0, len(block), nr)] + block  # the accumulator holds args after this: every block returns
    for nr, bad in ((fcntl_nr, _FCNTL_DENY), (ioctl_nr, _IOCTL_DENY)):
        block = [(_LD, 0, 0, _arg(1))]
        for i, v in enumerate(bad):  # jump to the deny at the block's end
            block.append((_JEQ, len(bad) - i, 0, v))
        block += [(_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ERRNO_EPERM)]
        p += [(_JEQ, 0, len(block), nr)] + block
    return p + [(_RET, 0, 0, _ALLOW)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install():
    """Install the fence on this process (and every process it forks). Returns an error string, or
    None on success. Needs no_new_privs, which firejail sets (and we set again)."""
    prog = program()
    if prog is None:
        return "no fence for architecture %s" % platform.machine()
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _Prog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return "PR_SET_NO_NEW_PRIVS failed (errno %d)" % ctypes.get_errno()
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return "seccomp filter refused (errno %d)" % ctypes.get_errno()
    return None


def fenced():
    """How many seccomp filters this process runs under (firejail's plus ours: at least 2)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Seccomp_filters:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0

