"""Whole-file advisory locks that the kernel releases when their holder dies, on POSIX and on Windows.

POSIX: `fcntl.flock`. Windows: `msvcrt.locking` on the file's first byte (a mandatory byte-range lock, also
released when the process dies). Elsewhere (no `fcntl`, no `msvcrt`) locking is not possible: `LOCKING` is
False, `lock()` says so with one warning and reports every lock as taken, which is safe for one compactor and one
reader at a time and is what the store then promises (docs/store.md).
"""

from __future__ import annotations

import logging
import os
import time
from types import ModuleType

log = logging.getLogger("tracer.store")
_sleep = time.sleep  # bound at import: the store's thread never calls an application's patched `time.sleep`

_fcntl: ModuleType | None
_msvcrt: ModuleType | None
try:
    import fcntl as _fcntl
except ImportError:  # Windows (or hidden on purpose by a test)
    _fcntl = None
try:
    import msvcrt as _msvcrt
except ImportError:
    _msvcrt = None

LOCKING = _fcntl is not None or _msvcrt is not None
_warned = False


def lock(fd: int, *, blocking: bool) -> bool:
    """Take the lock on the open file `fd`: True when held, False when `blocking` is False and another holds it."""
    global _warned
    if _fcntl is not None:
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | (0 if blocking else _fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True
    if _msvcrt is not None:
        while True:
            os.lseek(fd, 0, os.SEEK_SET)
            try:
                _msvcrt.locking(fd, _msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not blocking:
                    return False
            _sleep(0.05)  # LK_LOCK gives up after ten seconds; wait as long as flock would
    if not _warned:
        _warned = True
        log.warning(
            "tracer store: this platform has neither fcntl nor msvcrt file locks: run one `tracer store compact` "
            "(or prune) at a time, and one reader per store with a cache file"
        )
    return True


def unlock(fd: int) -> None:
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_UN)
    elif _msvcrt is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        _msvcrt.locking(fd, _msvcrt.LK_UNLCK, 1)
