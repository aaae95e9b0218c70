"""Admission control: a request is taken only when the work already accepted plus its own can finish within the
latency budget; otherwise it is refused at once (503 with ``Retry-After``), before any decoding or model work.

Work is counted in two measured units (:class:`Rates`, EWMAs updated from every answer): model seconds per clip (what
the model process reports for its batches) and preprocessing seconds per decoded pixel (what this process's decode
threads took). The accepted work all finishes by ``now + prep backlog / decode threads + model backlog``, whatever
order it runs in, so a request is admitted when that moment, with its own work added, is no later than the budget's
end of any request in progress that is still on time (its own included): what is accepted finishes within the budget
as long as the rates hold. The gap between the budget (PCAN_LATENCY_BUDGET_S) and the deadline (PCAN_TIMEOUT_S)
absorbs an estimate that was off.

State is per API process. The model serves every API process, so each one counts on ``1 / api_workers`` of its time
(the model backlog is multiplied by the number of API processes): exact when they are evenly loaded, which is how
BentoML spreads connections; a process that is busier than the others refuses earlier than it must.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bentoml

from .errors import ServiceUnavailable

EWMA_WEIGHT = 0.3
DEFAULT_PIXEL_S = 5e-9  # decode + preprocess seconds per decoded pixel until measured (1080p: ~10 ms a frame)

IN_FLIGHT = bentoml.metrics.Gauge(
    name="pcan_in_flight_requests",
    documentation="POST /predict requests in progress (receiving, queued or computing), all API processes",
    multiprocess_mode="livesum",
)
QUEUE_DEPTH = bentoml.metrics.Gauge(
    name="pcan_queue_depth",
    documentation="Admitted requests waiting for or in a stage: decode (decode + preprocess), model (clips left)",
    labelnames=["stage"],
    multiprocess_mode="livesum",
)
BACKLOG = bentoml.metrics.Gauge(
    name="pcan_backlog_seconds",
    documentation="Estimated seconds until the admitted work is done, per API process",
    multiprocess_mode="livemax",
)
CLIP_SECONDS = bentoml.metrics.Gauge(
    name="pcan_model_seconds_per_clip",
    documentation="Measured model seconds per clip (EWMA), the service rate admission counts with",
    multiprocess_mode="livemax",
)
REJECTIONS = bentoml.metrics.Counter(
    name="pcan_rejections",
    documentation="POST /predict refused with 503 by reason: queue_full (PCAN_MAX_QUEUE), budget (cannot finish "
    "within PCAN_LATENCY_BUDGET_S), model_down (the model worker is not running)",
    labelnames=["reason"],
)
for _reason in ("queue_full", "budget", "model_down"):  # listed at 0 from the start
    REJECTIONS.labels(reason=_reason)
for _stage in ("decode", "model"):
    QUEUE_DEPTH.labels(stage=_stage)


@dataclass(frozen=True)
class Cost:
    """A request's work, known from headers before decoding: model clips and pixels to decode."""

    clips: int
    pixels: int


@dataclass
class Rates:
    """Measured seconds per unit of work (EWMAs)."""

    clip_s: float
    pixel_s: float = DEFAULT_PIXEL_S

    def observe_clip(self, seconds: float) -> None:
        self.clip_s += EWMA_WEIGHT * (seconds - self.clip_s)
        CLIP_SECONDS.set(self.clip_s)

    def observe_prep(self, seconds: float, pixels: int) -> None:
        if pixels > 0:
            self.pixel_s += EWMA_WEIGHT * (seconds / pixels - self.pixel_s)


@dataclass(eq=False)
class Ticket:
    """An admitted request's remaining work and the end of its budget (monotonic seconds)."""

    cost: Cost
    budget_end: float
    prepared: bool = False
    clips_left: int = field(init=False)

    def __post_init__(self) -> None:
        self.clips_left = self.cost.clips
        QUEUE_DEPTH.labels(stage="decode").inc()


class Admission:
    """Admitted work of one API process, and the decision for the next request."""

    def __init__(
        self,
        budget_s: float,
        decode_threads: int,
        model_share: int,
        rates: Rates,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_s, self.decode_threads, self.model_share = budget_s, decode_threads, model_share
        self.rates, self.clock = rates, clock
        self.tickets: set[Ticket] = set()

    def finish_s(self, extra: Cost | None = None) -> float:
        """Seconds from now until the admitted work (and ``extra``) is done, at the measured rates."""
        pixels = sum(t.cost.pixels for t in self.tickets if not t.prepared) + (extra.pixels if extra else 0)
        clips = sum(t.clips_left for t in self.tickets) + (extra.clips if extra else 0)
        prep = pixels * self.rates.pixel_s / self.decode_threads
        return prep + clips * self.rates.clip_s * self.model_share

    def admit(self, cost: Cost, arrived: float) -> Ticket:
        """A ticket for the request (release it when the request ends), or 503 when it cannot finish in time."""
        now = self.clock()
        end = now + self.finish_s(cost)
        own = arrived + self.budget_s
        limit = min([own, *(t.budget_end for t in self.tickets if t.budget_end >= now)])
        if end > limit:
            REJECTIONS.labels(reason="budget").inc()
            retry = math.ceil(min(self.budget_s, end - limit))
            if end > own and not self.tickets:
                message = f"the request needs about {end - now:.0f} s of work"
            else:
                message = f"the server has about {self.finish_s():.0f} s of work ahead"
            raise ServiceUnavailable(
                f"{message}; it cannot be answered within the latency budget of {self.budget_s:g} s "
                "(PCAN_LATENCY_BUDGET_S)",
                retry,
            )
        ticket = Ticket(cost, own)
        self.tickets.add(ticket)
        self._publish()
        return ticket

    def prepared(self, ticket: Ticket, seconds: float) -> None:
        """The request's decode + preprocess took ``seconds``: its model clips are next."""
        ticket.prepared = True
        self.rates.observe_prep(seconds, ticket.cost.pixels)
        QUEUE_DEPTH.labels(stage="decode").dec()
        QUEUE_DEPTH.labels(stage="model").inc()
        self._publish()

    def ran(self, ticket: Ticket, clips: int, clip_s: float) -> None:
        """The model answered ``clips`` of the request's clips, at ``clip_s`` seconds a clip."""
        ticket.clips_left = max(0, ticket.clips_left - clips)
        self.rates.observe_clip(clip_s)
        self._publish()

    def release(self, ticket: Ticket) -> None:
        if ticket in self.tickets:
            self.tickets.discard(ticket)
            QUEUE_DEPTH.labels(stage="model" if ticket.prepared else "decode").dec()
            self._publish()

    def retry_after_s(self) -> int:
        """When a refused request may find room: the admitted work's time, at least a second."""
        return max(1, math.ceil(min(self.budget_s, self.finish_s())))

    def _publish(self) -> None:
        BACKLOG.set(self.finish_s())
