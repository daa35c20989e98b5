"""The fence: a seccomp filter each candidate process installs on itself before it runs any code.

firejail's own filter keeps the jail away from the host; this one keeps a candidate away from the
rest of the jail. Worker, zygote and test process run as the same slot user as the candidate (firejail
allows one uid), and a uid may signal, renice or re-limit its own processes. So before exec'ing the
candidate, its process (C) denies itself, with EPERM, and for all its descendants:
- sending any signal (kill, tkill, tgkill, sigqueue, pidfd_send_signal) and signal routes through
  file ownership (fcntl F_SETOWN/F_SETOWN_EX/F_SETSIG, ioctl FIOSETOWN/SIOCSPGRP/TIOCSPGRP/TIOCSTI);
- changing another process: prlimit64, sched_set*, setpriority, ioprio_set unless aimed at itself
  (pid/who 0), and ptrace, process_vm_*, kcmp, pidfd_getfd, perf_event_open, move/migrate_pages;
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

# (audit arch, always denied, denied unless arg0 == 0, denied unless arg1 == 0, fcntl, ioctl)
_ARCH = {
    "x86_64": (0xC000003E,
               [62, 200, 234, 129, 297, 424, 438, 101, 310, 311, 312, 298, 29, 64, 68, 240, 308, 272,
                248, 249, 250, 425, 323, 440, 256, 279, 109, 112],
               [302, 203, 144, 142, 314], [141, 251], 72, 16),
    "aarch64": (0xC00000B7,  # numbers from the asm-generic table; not exercised on our CI host
                [129, 130, 131, 138, 240, 424, 438, 117, 270, 271, 272, 241, 194, 190, 186, 180, 268, 97,
                 217, 218, 219, 425, 282, 440, 238, 239, 154, 157],
                [261, 122, 119, 118, 274], [140, 30], 25, 29),
}
_FCNTL_DENY = (8, 15, 10)  # F_SETOWN, F_SETOWN_EX, F_SETSIG
_IOCTL_DENY = (0x8901, 0x8902, 0x5410, 0x5412)  # FIOSETOWN, SIOCSPGRP, TIOCSPGRP, TIOCSTI


def _arg(k, hi=False):
    return 16 + 8 * k + (4 if hi else 0)  # offsetof(seccomp_data, args[k]), little-endian halves


def program(machine=None):
    """The filter as a list of (code, jt, jf, k); None when this architecture is not supported."""
    spec = _ARCH.get(machine or platform.machine())
    if spec is None:
        return None
    arch, deny, self0, self1, fcntl_nr, ioctl_nr = spec
    p = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, _ERRNO_EPERM), (_LD, 0, 0, 0)]
    if arch == 0xC000003E:  # x32 syscalls share the arch: deny the whole range
        p += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _ERRNO_EPERM)]
    for nr in deny:
        p += [(_JEQ, 0, 1, nr), (_RET, 0, 0, _ERRNO_EPERM)]
    for k, nrs in ((0, self0), (1, self1)):
        for nr in nrs:  # allowed only when the target is the caller itself (0), both halves checked
            p += [(_JEQ, 0, 7, nr), (_LD, 0, 0, _arg(k)), (_JEQ, 1, 0, 0), (_RET, 0, 0, _ERRNO_EPERM),
                  (_LD, 0, 0, _arg(k, True)), (_JEQ, 0, 1, 0), (_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ERRNO_EPERM)]
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

