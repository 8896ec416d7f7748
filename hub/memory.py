"""Keeping a large sync's peak memory down where the C allocator decides it (glibc; a no-op elsewhere).

A full pull of 100k Jira issues parses ~500 MB of JSON in several threads. glibc gives each thread that
allocates its own malloc arena and keeps what is freed there for that arena, so the pull's freed pages are
not reused when the main thread builds the portfolio, and the process's peak RSS grows by tens of MB:

- `limit_malloc_arenas()` (once, at process start, before any thread): at most two arenas, so memory freed by
  the pull threads is reused (Python holds the GIL anyway, so the threads hardly contend for malloc);
- `release_freed_memory()` (between the phases of a run): collect garbage and return free heap pages.
"""

from __future__ import annotations

import ctypes
import gc

M_ARENA_MAX = -8  # glibc's mallopt parameter


def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (musl, macOS, Windows)
        return None


def limit_malloc_arenas(n: int = 2) -> None:
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, n)


def release_freed_memory() -> None:
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
