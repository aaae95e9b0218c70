"""One deadline per request, end to end: PCAN_TIMEOUT_S counted from the moment the request arrived (stamped by the
edge middleware, ``edge.PredictGate``), covering upload, parsing, decoding and inference."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import ClientClosed, RequestTimeout

ARRIVED = "pcan.arrived"  # ASGI scope key: time.monotonic() when the request reached the service


@dataclass(frozen=True)
class Wanted:
    """Whether a request's work still has someone to answer: its deadline (monotonic seconds) and its client."""

    arrived: float
    timeout_s: int
    gone: Callable[[], Awaitable[bool]]

    @property
    def deadline(self) -> float:
        return self.arrived + self.timeout_s

    def left_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> RequestTimeout:
        return RequestTimeout(f"the request did not finish within {self.timeout_s} s (PCAN_TIMEOUT_S)")

    async def check(self) -> None:
        """Raises unless the request is still wanted: before each piece of work is started for it."""
        if time.monotonic() >= self.deadline:
            raise self.expired()
        if await self.gone():
            raise ClientClosed("the client closed the connection before its answer")

    def wall_deadline(self) -> float:
        """The deadline on the wall clock (time.time()), for another process."""
        return time.time() + self.deadline - time.monotonic()


def arrival(scope: dict) -> float:
    """When the request arrived (now, if no middleware stamped it)."""
    return scope.get(ARRIVED) or time.monotonic()
