"""How many workers of each kind, one setting per kind, by default from the CPUs this process may use.

* API workers (``PCAN_API_WORKERS``, ``pcan serve --api-workers``): HTTP processes that parse uploads and
  preprocess them.
* Decode threads (``PCAN_DECODE_THREADS``, ``pcan predict|serve --decode-threads``): videos decoded and
  preprocessed at once in one process. FFmpeg and OpenCV release the GIL, so threads of one process use
  separate cores; each video is decoded by one FFmpeg thread.
* Torch threads (``PCAN_TORCH_THREADS``): the model's intra-op threads.

The CPUs are those of the process's affinity mask (a container's cpuset), not the host's.
"""

import os

DECODE_THREADS_ENV = "PCAN_DECODE_THREADS"
CPUS_PER_API_WORKER = 8
"""One more API process per this many CPUs: its Python share of a request (form parsing, JSON) is small next
to decoding, so one process keeps several cores decoding before its GIL becomes the limit."""


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_api_workers(cpus: int | None = None) -> int:
    return max(1, (cpus or usable_cpus()) // CPUS_PER_API_WORKER)


def default_decode_threads(api_workers: int = 1, cpus: int | None = None) -> int:
    """One decode thread per CPU, shared out among the processes that decode."""
    return max(1, -(-(cpus or usable_cpus()) // max(1, api_workers)))
