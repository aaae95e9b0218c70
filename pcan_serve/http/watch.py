"""The API process's view of the model worker: up (with its description) or down, known at once.

When the model worker dies, BentoML's arbiter (circus) restarts it, but keeps its listening socket open meanwhile:
a call to the model does not fail, it waits in the socket's backlog until the new worker has loaded the model
(measured: /readyz hung ~16 s, requests in flight got 500). So the worker's life is watched here instead: the
model reports its process id and start time (``describe``), and while both are on this host the API process checks
that process (psutil, which also tells a pid reused by another process apart) before every call and every
``POLL_S``. Calls in flight when it dies are cut off; every request then gets 503 with ``Retry-After`` at once,
``/readyz`` says not ready at once, and a background probe asks the model for its description again until the
restarted worker answers. On another host (no shared pid namespace), a dropped connection is the sign instead.
"""

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import psutil

from .admission import REJECTIONS
from .errors import ServiceUnavailable

logger = logging.getLogger("bentoml.pcan")
POLL_S = 0.25
PROBE_TIMEOUT_S = 2.0
RETRY_AFTER_S = 5  # a worker restart loads the model again: seconds


class ModelWatch:
    """``await call(fn, *args)``: a model call that ends with 503 as soon as the worker is known to be down;
    ``on_up(description)`` each time a worker comes up."""

    def __init__(
        self, describe: Callable[[], Awaitable[dict[str, Any]]], on_up: Callable[[dict[str, Any]], None]
    ) -> None:
        self._describe, self._on_up = describe, on_up
        self.info: dict[str, Any] | None = None  # the live worker's description; None while down
        self._process: psutil.Process | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start watching (and probing for the worker); idempotent, on the serving event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def alive(self) -> bool:
        if self.info is None:
            return False
        if self._process is not None and not _running(self._process):
            self._down("the model worker exited")
            return False
        return True

    def require(self) -> dict[str, Any]:
        """The live worker's description, or 503 when there is none."""
        self.start()
        if not self.alive():
            raise _unavailable("the model worker is not running (starting or restarting)")
        assert self.info is not None
        return self.info

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        self.require()
        lost = self._lost
        call = asyncio.ensure_future(fn(*args, **kwargs))
        waiter = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not call.done():
                raise _unavailable("the model worker stopped during the request")
            return call.result()
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            self._down(f"the connection to the model worker broke ({type(exc).__name__})")
            raise _unavailable("the model worker stopped during the request") from None
        finally:
            for task in (call, waiter):
                if not task.done():
                    task.cancel()

    def _down(self, why: str) -> None:
        if self.info is not None:
            logger.warning("pcan: %s; answering 503 until it is back", why)
        self.info, self._process = None, None
        self._lost.set()

    def _up(self, info: dict[str, Any]) -> None:
        self._process = _same_host_process(info)
        self._on_up(info)
        self.info = info
        self._lost = asyncio.Event()
        logger.info("pcan: model worker %s is up", info.get("pid"))

    async def _watch(self) -> None:
        while True:
            if self.info is None:
                try:
                    with anyio.fail_after(PROBE_TIMEOUT_S):
                        self._up(await self._describe())
                        continue
                except Exception as exc:  # still loading, or restarting
                    logger.debug("model worker not up yet: %s", exc)
            else:
                self.alive()
            await asyncio.sleep(POLL_S)


def _unavailable(message: str) -> ServiceUnavailable:
    REJECTIONS.labels(reason="model_down").inc()
    return ServiceUnavailable(f"{message}; retry shortly", RETRY_AFTER_S)


def _same_host_process(info: dict[str, Any]) -> psutil.Process | None:
    """The model's process when it runs on this host (same pid, same start time), else None."""
    if info.get("host") != socket.gethostname() or "pid" not in info:
        return None
    try:
        process = psutil.Process(int(info["pid"]))
        return process if abs(process.create_time() - float(info["started"])) < 0.01 else None
    except (psutil.Error, KeyError, ValueError):
        return None


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
