"""Random bytes for ids and nonces, drawn from the kernel a few kilobytes at a time.

Every write makes random values: an id per customer and per event, a 12-byte
nonce per sealed column.  ``os.urandom`` is one ``getrandom`` system call each,
four to six per row, about 5 % of a bulk find-or-create's CPU.  The bytes here
come from the same source, only read in blocks: they are as unpredictable, and
each is handed out once.

Two rules keep "handed out once" true:

- A forked child drops the block it inherited (``os.register_at_fork``), or
  parent and child would give the same ids and, worse, the same AES-GCM nonces.
- A lock around the cursor: a job that seals from several threads must not be
  handed the same bytes twice.

Secrets that live long (data keys, webhook secrets, API keys) still come
straight from ``secrets``: they are rare, and their bytes never sit in a buffer.
"""

from __future__ import annotations

import os
import threading

#: Bytes read per system call: 4 kB serves a 500-row bulk call's ids in a few reads.
BLOCK = 4096


class _Pool:
    __slots__ = ("block", "lock", "used")

    def __init__(self) -> None:
        self.drop()

    def drop(self) -> None:
        """No block and a new lock (after a fork, the parent's may have been held)."""
        self.lock = threading.Lock()
        self.block = b""
        self.used = 0

    def take(self, n: int) -> bytes:
        if n > BLOCK:
            return os.urandom(n)
        with self.lock:
            start = self.used
            if start + n > len(self.block):
                self.block = os.urandom(BLOCK)
                start = 0
            self.used = start + n
            return self.block[start : start + n]


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.drop)


def random_bytes(n: int) -> bytes:
    """`n` bytes from the kernel's CSPRNG, never given out before in this process."""
    return _pool.take(n)
