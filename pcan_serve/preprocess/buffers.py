"""Large output arrays: placed on 2 MiB boundaries, and recycled once nothing references them any more.

Fresh memory is expensive here: the kernel has to fault in and zero every page of a new multi-MiB output
(10 clips: 150 MiB per request), and on a loaded machine that kernel work costs more than all the
arithmetic. So a large output lives in a pooled buffer: the array handed out is backed by a small lease
object, NumPy makes every view of that array (and torch/onnxruntime wrappers of it) keep the lease
alive, and only when the last one is gone does the buffer go back to the pool for the next request with
the same size. Idle buffers are capped at ``POOL_BYTES`` in all; beyond that they are freed.

The 2 MiB alignment lets NumPy's transparent-huge-page advice take effect: a fresh output faults in as a
few huge pages instead of thousands of small ones (each one costly under virtualisation).
"""

import threading
import weakref
from collections import OrderedDict

import numpy as np

_HUGE_PAGE = 2 << 20
_MIN_BYTES = 4 << 20  # NumPy's own threshold for the huge-page advice; smaller arrays are plain allocations

POOL_BYTES = 256 << 20
"""Most bytes kept in idle buffers: enough for the outputs of one 10-clip request (156 MiB) and more."""


class _Lease:
    """One loan of a pooled buffer, exposed to NumPy through the array interface."""

    __slots__ = ("__array_interface__", "__weakref__")

    def __init__(self, address: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.__array_interface__ = {"data": (address, False), "shape": shape, "typestr": dtype.str, "version": 3}


class _Pool:
    def __init__(self, max_idle_bytes: int) -> None:
        self.max_idle_bytes = max_idle_bytes
        self._idle: OrderedDict[int, list[np.ndarray]] = OrderedDict()  # nbytes -> raw buffers, oldest first
        self._idle_bytes = 0
        self._lock = threading.RLock()  # a lease can end (and release) inside a locked section via the GC

    def take(self, nbytes: int) -> tuple[np.ndarray, bool]:
        """(raw uint8 buffer of nbytes + alignment slack, fresh): fresh buffers are all zeros."""
        with self._lock:
            free = self._idle.get(nbytes)
            if free:
                raw = free.pop()
                self._idle_bytes -= raw.nbytes
                if not free:
                    del self._idle[nbytes]
                return raw, False
        return np.zeros(nbytes + _HUGE_PAGE, dtype=np.uint8), True  # calloc: pages zeroed lazily by the kernel

    def give_back(self, nbytes: int, raw: np.ndarray) -> None:
        with self._lock:
            if raw.nbytes > self.max_idle_bytes:
                return
            while self._idle_bytes + raw.nbytes > self.max_idle_bytes:  # drop the least recently returned
                size, old = next(iter(self._idle.items()))
                self._idle_bytes -= old.pop(0).nbytes
                if not old:
                    del self._idle[size]
            self._idle.setdefault(nbytes, []).append(raw)
            self._idle.move_to_end(nbytes)
            self._idle_bytes += raw.nbytes

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()
            self._idle_bytes = 0

    @property
    def idle_bytes(self) -> int:
        return self._idle_bytes


POOL = _Pool(POOL_BYTES)


def huge_page_array(shape: tuple[int, ...], dtype: type = np.float32, zero: bool = False) -> np.ndarray:
    """``np.zeros``/``np.empty`` of ``shape``; when large, 2 MiB-aligned and backed by a recycled buffer."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < _MIN_BYTES:
        return np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
    raw, fresh = POOL.take(nbytes)
    address = raw.ctypes.data + (-raw.ctypes.data % _HUGE_PAGE)
    lease = _Lease(address, tuple(shape), dtype)
    finalizer = weakref.finalize(lease, POOL.give_back, nbytes, raw)
    finalizer.atexit = False
    out = np.asarray(lease)  # out.base is the lease, and so is the base of every view NumPy derives from out
    if zero and not fresh:
        out.reshape(-1).view(np.uint8).fill(0)  # a byte fill is a memset: twice as fast as a float32 fill
    return out
