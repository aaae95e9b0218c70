"""Admission control: a request is taken only when it, and every request already taken that is still on time, can finish
within the latency budget; otherwise it is refused at once (503 with ``Retry-After``), before any decoding.

Work is counted in two measured units (:class:`Rates`, EWMAs updated from every answer): model seconds per clip (what
the model process reports for its batches) and preprocessing seconds per decoded pixel (what this process's decode
threads took). Each request's finish is bounded as the scheduling runs it: decoding first come, first served on the
decode threads, then the model's round robin over requests' chunks (``batcher``), where while a request still has
work, every other one gets at most as much model time as it does: finish <= decode wait + the sum over requests of
min(their model work, its own), less for requests that came after it once it is at the model. A new request is
admitted when that bound, times ``HEADROOM``, stays within the budget's end of each request (its own included) with
its work added; so a one-clip request still fits beside a long one, and taking it delays the others by one clip each.
The gap between the budget (PCAN_LATENCY_BUDGET_S) and the deadline (PCAN_TIMEOUT_S) absorbs an estimate that was
off.

State is per API process. The model serves every API process, so each one counts on ``1 / api_workers`` of its time
(the model backlog is multiplied by the number of API processes): exact when they are evenly loaded, which is how
BentoML spreads connections; a process that is busier than the others refuses earlier than it must.
"""

import collections
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bentoml

from .errors import ServiceUnavailable

EWMA_WEIGHT = 0.3
RECENT = 32  # requests whose decoding cost the gate's early refusal looks back on
HEADROOM = 1.25  # estimates x this: the rates are those of the moment, and rise as load grows (the stages share CPUs)
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
    """A request's work, known from headers before decoding: model clips, and preprocessing counted in decoded pixels:
    the video's and skeleton's (``pixels``) and each clip's (``clip_pixels``)."""

    clips: int
    pixels: int
    clip_pixels: int = 0

    @property
    def prep_pixels(self) -> int:
        return self.pixels + self.clip_pixels * self.clips


@dataclass
class Rates:
    """Measured seconds per unit of work (EWMAs)."""

    clip_s: float
    pixel_s: float = DEFAULT_PIXEL_S

    def observe_clip(self, seconds: float, weight: float = EWMA_WEIGHT) -> None:
        self.clip_s += weight * (seconds - self.clip_s)
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


class Admission:
    """Admitted work of one API process, and the decision for the next request."""

    def __init__(
        self,
        budget_s: float,
        decode_threads: int,
        model_share: int,
        chunk_clips: int,
        rates: Rates,
        clock: Callable[[], float] = time.monotonic,
        headroom: float = HEADROOM,
    ) -> None:
        self.budget_s, self.decode_threads, self.model_share = budget_s, decode_threads, model_share
        self.chunk_clips, self.rates, self.clock, self.headroom = chunk_clips, rates, clock, headroom
        self.tickets: list[Ticket] = []  # in admission order, which is the decode threads' order
        self.recent: collections.deque[Cost] = collections.deque(maxlen=RECENT)

    def finish_s(self) -> float:
        """Seconds from now until all the admitted work is done, at the measured rates."""
        pixels = sum(t.cost.prep_pixels for t in self.tickets if not t.prepared)
        clips = sum(t.clips_left for t in self.tickets)
        prep = pixels * self.rates.pixel_s / self.decode_threads
        return self.headroom * (prep + clips * self.rates.clip_s * self.model_share)

    def finish_bounds(self, tickets: list[Ticket]) -> list[float]:
        """Each ticket's finish, seconds from now, bounded as the module docstring says (the batch running now is
        work of these tickets: it is in the sum). A request admitted later than one already at the model cannot get
        ahead of that one's queued chunk, so it delays it by less."""
        r = self.rates
        per_clip = r.clip_s * self.model_share
        model = [t.clips_left * per_clip for t in tickets]
        bounds, queued = [], 0.0
        for i, (ticket, own) in enumerate(zip(tickets, model, strict=True)):
            decode = 0.0
            if not ticket.prepared:
                alone = ticket.cost.prep_pixels * r.pixel_s
                queued += alone
                decode = max(queued / self.decode_threads, alone)
            behind = own - min(ticket.clips_left, self.chunk_clips) * per_clip if ticket.prepared else own
            shared = sum(min(w, own) for w in model[: i + 1]) + sum(min(w, behind) for w in model[i + 1 :])
            bounds.append(self.headroom * (decode + shared))
        return bounds

    def refusal(self, cost: Cost, arrived: float) -> ServiceUnavailable | None:
        """None when a request of ``cost`` that arrived at ``arrived`` can be admitted, else the 503 to answer."""
        now = self.clock()
        ticket = Ticket(cost, arrived + self.budget_s)
        tickets = [*self.tickets, ticket]
        late = [
            now + bound - t.budget_end
            for t, bound in zip(tickets, self.finish_bounds(tickets), strict=True)
            if t is ticket or t.budget_end >= now  # a request already late is not held to its budget
        ]
        if max(late) <= 0:
            return None
        REJECTIONS.labels(reason="budget").inc()
        alone = self.finish_bounds([ticket])[0]
        if now + alone > ticket.budget_end:
            message = f"the request needs about {alone:.0f} s of work"
        else:
            message = f"the server has about {self.finish_s():.0f} s of work ahead"
        return ServiceUnavailable(
            f"{message}; it cannot be answered within the latency budget of {self.budget_s:g} s "
            "(PCAN_LATENCY_BUDGET_S)",
            math.ceil(min(self.budget_s, max(late))),
        )

    def full(self) -> ServiceUnavailable | None:
        """The 503 for any request arriving now, when even the least one (a clip, and the decoding of the lightest of
        the recent requests) cannot be admitted: the request gate answers it before the body is parsed, which under
        overload is most refusals, at a fraction of their cost (measured p95 server time of a refusal: 549 ms when
        only a request without decoding was tried there, on a 2-core machine at load 6)."""
        lightest = min(self.recent, key=lambda c: c.pixels, default=Cost(1, 0))
        least = Cost(1, lightest.pixels, lightest.clip_pixels)
        return self.refusal(least, self.clock())

    def admit(self, cost: Cost, arrived: float) -> Ticket:
        """A ticket for the request (release it when the request ends), or 503 when it cannot finish in time."""
        self.recent.append(cost)
        refused = self.refusal(cost, arrived)
        if refused is not None:
            raise refused
        ticket = Ticket(cost, arrived + self.budget_s)
        self.tickets.append(ticket)
        QUEUE_DEPTH.labels(stage="decode").inc()
        self._publish()
        return ticket

    def prepared(self, ticket: Ticket, seconds: float) -> None:
        """The request's decode + preprocess took ``seconds``: its model clips are next."""
        ticket.prepared = True
        self.rates.observe_prep(seconds, ticket.cost.prep_pixels)
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
            self.tickets.remove(ticket)
            QUEUE_DEPTH.labels(stage="model" if ticket.prepared else "decode").dec()
            self._publish()

    def retry_after_s(self) -> int:
        """When a refused request may find room: the admitted work's time, at least a second."""
        return max(1, math.ceil(min(self.budget_s, self.finish_s())))

    def _publish(self) -> None:
        BACKLOG.set(self.finish_s())
