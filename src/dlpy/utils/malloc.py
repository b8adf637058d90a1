"""Opt-in tuning of glibc's malloc for numpy's many short-lived arrays.

glibc hands large blocks (above a threshold that starts at 128 KiB) to fresh mmap pages and
gives freed memory at the top of the heap back to the system above a trim threshold, so a
training step that makes and frees the same arrays every step pays a page fault (~2.4 us) per
4 KiB page each time it touches them anew. ``tune_malloc()`` raises those thresholds once for
the process (glibc's mallopt), as the environment variables MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_ would, at the cost of a larger resident heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt's parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_INT_MAX = 2**31 - 1  # mallopt takes a C int


def _libc():
    """glibc's handle, or None on another C library (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        return libc
    except (OSError, AttributeError, TypeError):
        return None


def _size(name: str, value, largest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"tune_malloc: {name} must be an int (bytes), got {value!r}")
    if not 0 <= value <= largest:
        raise ValueError(f"tune_malloc: {name} must be in [0, {largest}] bytes, got {value}")
    return value


def tune_malloc(mmap_threshold: int = 1 << 30, trim_threshold: int = _INT_MAX,
                top_pad: int = 256 * 1024 * 1024) -> bool:
    """Keep freed memory in the process for reuse: blocks up to ``mmap_threshold`` bytes come
    from the heap (not fresh mmap pages), the heap is trimmed only when ``trim_threshold``
    bytes are free at its top, and grows ``top_pad`` bytes beyond each request. Returns True
    when glibc accepted all three, False on another C library (nothing is changed there)."""
    values = {_M_MMAP_THRESHOLD: _size("mmap_threshold", mmap_threshold, _INT_MAX),
              _M_TRIM_THRESHOLD: _size("trim_threshold", trim_threshold, _INT_MAX),
              _M_TOP_PAD: _size("top_pad", top_pad, _INT_MAX)}
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return all([libc.mallopt(parameter, value) == 1 for parameter, value in values.items()])
