"""Who owns a run or a lease: a process named by host, pid and start time, and whether it still runs.

A pid alone is not enough: after the owner dies the pid can be given to another process, so the
owner's start time is recorded too (Linux `/proc`; elsewhere a live pid is taken as the owner).
A process on another host cannot be asked; callers decide by a heartbeat or an expiry instead.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


def process_started(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot, from /proc), or None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: str | None

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), process_started(os.getpid()))

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """Whether the owner still runs; only answerable for a `local` owner (True otherwise)."""
        if not self.local:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, owned by another user
        return self.started is None or process_started(self.pid) in (None, self.started)

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"
