"""One helper thread per process, so that a request's after-decode work can use a second core.

The calling thread can always do all of the work itself; the helper takes a share only when it is free.
A shared task is started on the helper, and when the caller runs out of work it either cancels the task
(the helper never got to it: busy with another request, or gone after a fork) or waits for the piece the
helper is on. So the helper speeds a request up and holds one back by at most one small piece of work.
The work is cv2 and large NumPy operations, which release the GIL. With one usable CPU (``taskset -c 0``)
there is no helper.
"""

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

from ..workers import usable_cpus

T = TypeVar("T")

ENABLED = usable_cpus() > 1
"""Whether requests share work with the helper; set False to keep each request on its calling thread."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """The helper thread (one per process, started on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pcan-preprocess")
        return _pool


def _forget_pool() -> None:  # a forked child has no helper thread: start a new one when first needed
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


@contextmanager
def sharing(task: Callable[[], object]) -> Iterator[None]:
    """Run ``task`` on the helper while the ``with`` body runs; on leaving, cancel it if it has not started,
    else wait for it (its error is raised unless the body already failed)."""
    future: Future | None = executor().submit(task) if ENABLED else None
    try:
        yield
    except BaseException:
        if future is not None and not future.cancel():
            future.exception()  # wait: it may still be writing into the outputs
        raise
    if future is not None and not future.cancel():
        future.result()


class Once(Generic[T]):
    """A computation run by whichever thread asks first; a later caller waits for that result."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute: Callable[[], T] | None = compute
        self._lock = threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        with self._lock:
            if self._compute is not None:
                self._value = self._compute()  # on an error, the next caller tries again (and fails alike)
                self._compute = None
        return self._value  # type: ignore[return-value]
