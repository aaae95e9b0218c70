"""Output arrays placed on 2 MiB boundaries, so fresh outputs fault in as a few huge pages.

NumPy advises the kernel to back allocations of 4 MiB or more with transparent huge pages, but a huge page
needs a 2 MiB-aligned range: malloc's alignment wastes most of the advice. An array starting on a boundary
takes a handful of page faults instead of thousands (each one costly under virtualisation). Same values,
same dtype; the view keeps its over-allocated base alive. Small arrays are allocated as usual.
"""

import numpy as np

_HUGE_PAGE = 2 << 20
_MIN_BYTES = 4 << 20  # NumPy's own threshold for the huge-page advice


def huge_page_array(shape: tuple[int, ...], dtype: type = np.float32, zero: bool = False) -> np.ndarray:
    """``np.zeros``/``np.empty`` of ``shape``, starting on a 2 MiB boundary when it is large."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    alloc = np.zeros if zero else np.empty
    if nbytes < _MIN_BYTES:
        return alloc(shape, dtype=dtype)
    raw = alloc(nbytes + _HUGE_PAGE, dtype=np.uint8)
    start = -raw.ctypes.data % _HUGE_PAGE
    return raw[start : start + nbytes].view(dtype).reshape(shape)
