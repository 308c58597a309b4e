"""runtime/memory.py: the operator caps glibc's arenas, unless MALLOC_ARENA_MAX says otherwise."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# Eight threads alive at once, each allocating from glibc (objects over 512 bytes skip Python's own
# allocator): each new thread takes an arena of its own while the cap allows; glibc's malloc_stats
# prints one "Arena n:" block per arena.
PROGRAM = """
import ctypes, sys, threading
from slipway.runtime.memory import limit_malloc_arenas
capped = limit_malloc_arenas() if sys.argv[1] == "cap" else False
print(capped, flush=True)
together = threading.Barrier(8)
kept = []
def allocate():
    kept.append([bytes(1000) for _ in range(100)])
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas(mode: str, **env: str) -> tuple[str, int]:
    told = ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")
    environment = {key: value for key, value in os.environ.items() if key not in told} | env
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, env=environment, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_the_operator_caps_glibc_arenas_unless_told_how_many() -> None:
    capped, uncapped = arenas("leave")
    assert capped == "False" and uncapped > 2  # the main thread's and one per thread, 8 per core at most
    assert arenas("cap") == ("True", 2)
    assert arenas("cap", MALLOC_ARENA_MAX="4") == ("False", 4)  # glibc read it at start
    assert arenas("cap", GLIBC_TUNABLES="glibc.malloc.arena_max=3") == ("False", 3)
