"""How the process's C allocator is set up: few arenas.

glibc gives each thread that meets contention an arena of its own (up to 8 per core), and memory freed
in one is kept for that arena alone. The operator's threads (a pass's requests, the informer's pages
parsed off the loop) spread the start-up's short-lived allocations over many arenas, and each kept its
share: 12 MiB of an operator's 204 over 3,000 Releases, 7 of 135 over 1,000 (docs/operator.md, "What
one operator's RSS is made of"). Two arenas cost no measurable time here: the threads mostly wait on
the network, holding Python's lock when they allocate anyway.
"""

from __future__ import annotations

import ctypes
import os
import platform

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def limit_malloc_arenas() -> bool:
    """Cap glibc's arenas at `ARENAS`, unless the environment already says how many (MALLOC_ARENA_MAX,
    or glibc.malloc.arena_max in GLIBC_TUNABLES: glibc read them at start) or the C library is not
    glibc. Whether the cap was set."""
    told = "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get(
        "GLIBC_TUNABLES", ""
    )
    if told or platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).mallopt(_M_ARENA_MAX, ARENAS))
