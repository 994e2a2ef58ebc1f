"""Named crash points for fault tests: a process kills itself with SIGKILL at a chosen point.

Set `SERVICEKIT_CRASH_AT=<name>` (and optionally `SERVICEKIT_CRASH_ONCE_FILE=<path>`, so only the
first process to get there dies) in a child process's environment. Costs one dict lookup when
unset.
"""

from __future__ import annotations

import os
import signal

RELAY_AFTER_CLAIM = "relay.after_claim"  # business commit done, row claimed, nothing published
RELAY_AFTER_PUBLISH = "relay.after_publish"  # broker confirmed, row not yet marked sent
INBOX_BEFORE_COMMIT = "inbox.before_commit"  # handler ran, its transaction not committed
INBOX_AFTER_COMMIT = "inbox.after_commit"  # handler committed, message not acknowledged


def crash_point(name: str) -> None:
    if os.environ.get("SERVICEKIT_CRASH_AT") != name:
        return
    once = os.environ.get("SERVICEKIT_CRASH_ONCE_FILE")
    if once:
        try:
            fd = os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
