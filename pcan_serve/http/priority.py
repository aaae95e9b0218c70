"""CPU priority of the bulk work, so that each API process's event loop gets the CPU first.

Decoding (the API process's decode threads) and inference (the model process) run at nice +``BULK_NICE``. Where
they keep every core busy, the event loop, which reads uploads, refuses at once what cannot be served in time and
answers /readyz and /metrics, still runs when it has work: a refusal costs milliseconds of CPU and should not wait
behind seconds of decoding. The bulk work loses nothing when the loop is idle. Raising a nice value needs no
privilege; it cannot be lowered again, which is why decoding has its own threads (``decode_pool``).

A nice value per thread is Linux's (``setpriority`` on the thread's native id); elsewhere that id would name a
process, so threads keep their priority there.
"""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

BULK_NICE = 5


def lower_process() -> None:
    """This whole process (the model's) at the bulk priority."""
    if hasattr(os, "nice"):
        os.nice(max(0, BULK_NICE - os.nice(0)))


def _lower_thread() -> None:
    if sys.platform == "linux":
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(BULK_NICE, os.getpriority(os.PRIO_PROCESS, tid)))


def decode_pool(threads: int) -> ThreadPoolExecutor:
    """``threads`` threads at the bulk priority, for decoding and preprocessing."""
    return ThreadPoolExecutor(threads, thread_name_prefix="pcan-decode", initializer=_lower_thread)
