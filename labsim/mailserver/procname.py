"""The name process tools show for the server: `dovecot` (Courier's: `couriertcpd`).

`pgrep dovecot`, `ps -C dovecot`, `ss -ltnp` and top read the kernel's short
name of a process (its comm), which for us would be `python3`: a learner
checking that the daemon runs, as the exam expects them to, would find
nothing. prctl(PR_SET_NAME) sets it; `ps aux` still shows the command line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

PR_SET_NAME = 15
COMM_MAX = 15  # the kernel keeps 15 bytes and a NUL


def set_process_name(name: str) -> bool:
    """True when the kernel took the name (Linux only; anywhere else nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return int(libc.prctl(PR_SET_NAME, name.encode()[:COMM_MAX], 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
