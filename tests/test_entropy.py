"""Random bytes read from the kernel in blocks (app/crypto/entropy.py): each handed out
once, also across a fork and across threads."""

from __future__ import annotations

import os
import threading

from app.crypto import entropy
from app.crypto.cipher import NONCE_BYTES
from app.ids import new_id


def test_bytes_are_never_handed_out_twice_across_refills():
    nonces = [entropy.random_bytes(NONCE_BYTES) for _ in range(5 * entropy.BLOCK)]
    assert all(len(n) == NONCE_BYTES for n in nonces)
    assert len(set(nonces)) == len(nonces)
    ids = {new_id("cust") for _ in range(20_000)}
    assert len(ids) == 20_000 and all(len(i) == len("cust_") + 22 for i in ids)
    assert len(entropy.random_bytes(3 * entropy.BLOCK)) == 3 * entropy.BLOCK


def test_a_forked_child_does_not_repeat_the_parents_bytes():
    entropy.random_bytes(100)  # a block is loaded and part of it is left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it would hand out next
        try:
            os.write(write, entropy.random_bytes(64))
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64)
    os.close(read)
    parent = entropy.random_bytes(64)
    assert len(child) == 64 and child != parent


def test_threads_taking_at_once_get_distinct_bytes():
    taken: list[list[bytes]] = [[] for _ in range(8)]

    def take(mine: list[bytes]) -> None:
        for _ in range(3000):
            mine.append(entropy.random_bytes(NONCE_BYTES))

    threads = [threading.Thread(target=take, args=(mine,)) for mine in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [n for mine in taken for n in mine]
    assert len(set(every)) == len(every) == 8 * 3000
