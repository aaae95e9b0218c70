"""Decode ahead on a second thread while the pose models run: a request's decoding and its estimation overlap
(FFmpeg and LiteRT release the GIL), so a video-only request costs about the larger of the two, not their sum.
At most ``depth`` decoded frames wait in between; with one usable CPU nothing is gained, and nothing is started.
"""

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

from ..workers import usable_cpus

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items`` in order, produced on a helper thread; its errors are raised here. Leaving early (an error in
    the consumer, or ``close()``) stops the helper after the item it is on, and closes ``items`` there."""
    if usable_cpus() < 2:
        yield from items
        return
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, object]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised in its thread
            put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    helper = threading.Thread(target=produce, name="pcan-pose-decode", daemon=True)
    helper.start()
    try:
        while True:
            item, error = box.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        helper.join()
