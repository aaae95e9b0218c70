"""Admission control and the model's chunk scheduler without a server: the decisions, with a clock and a model
that the test drives."""

import asyncio
import math
import time

import numpy as np
import pytest

from pcan_serve.http.admission import HEADROOM, Admission, Cost, Rates
from pcan_serve.http.batcher import Batcher
from pcan_serve.http.errors import ServiceUnavailable
from pcan_serve.http.wire import ModelInput


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def admission(budget_s: float = 10, clip_s: float = 1.0, threads: int = 2, share: int = 1) -> Admission:
    """One clip a batch, estimates taken as they are (no headroom): the decisions alone."""
    rates = Rates(clip_s=clip_s, pixel_s=1e-6)
    return Admission(budget_s, threads, share, 1, rates, clock=Clock(), headroom=1)


def test_work_that_fits_the_budget_is_admitted_and_the_rest_refused_with_retry_after():
    adm = admission(budget_s=10, clip_s=1.0)
    now = adm.clock()
    first = adm.admit(Cost(clips=4, pixels=0), now)  # done within 4 s: nothing runs ahead of it
    adm.admit(Cost(clips=4, pixels=0), now)  # both within 4 + 4 s
    with pytest.raises(ServiceUnavailable, match="PCAN_LATENCY_BUDGET_S") as refused:
        adm.admit(Cost(clips=4, pixels=0), now)  # 12 s
    assert refused.value.retry_after_s == 2
    adm.ran(first, 4, 1.0)
    adm.release(first)
    adm.admit(Cost(clips=4, pixels=0), now)  # room again


def test_a_request_alone_over_the_budget_is_refused():
    adm = admission(budget_s=10, clip_s=2.0)
    with pytest.raises(ServiceUnavailable, match="needs about 20 s"):
        adm.admit(Cost(clips=10, pixels=0), adm.clock())
    assert not adm.tickets


def test_a_light_request_fits_beside_a_heavy_one_a_second_heavy_one_does_not():
    """Round robin over requests: the light one waits one clip of the heavy one's, not all of them."""
    adm = admission(budget_s=30, clip_s=1.0)
    now = adm.clock()
    adm.admit(Cost(clips=20, pixels=0), now)  # 20
    adm.admit(Cost(clips=1, pixels=0), now)  # itself 1 + 1; the heavy one 21
    with pytest.raises(ServiceUnavailable, match="work ahead"):
        adm.admit(Cost(clips=20, pixels=0), now)  # 20 + 20 + 1


def test_new_work_may_not_push_an_earlier_request_past_its_budget():
    """A request of 4 clips admitted 4 s ago, none run yet, has 6 s of its budget left: one more clip fits (it delays
    it by one clip), four do not, though the new request's own budget would hold them."""
    adm = admission(budget_s=10, clip_s=1.0)
    clock = adm.clock
    old = adm.admit(Cost(clips=4, pixels=0), clock())
    clock.now += 4
    with pytest.raises(ServiceUnavailable):
        adm.admit(Cost(clips=4, pixels=0), clock())  # the old one: 4 + 4 > 6
    light = adm.admit(Cost(clips=1, pixels=0), clock())  # the old one: 4 + 1
    adm.release(light)
    clock.now += 7  # the old one is now late: it no longer bounds new work (its deadline still does)
    assert old.budget_end < clock()
    adm.admit(Cost(clips=4, pixels=0), clock())


def test_decoding_is_first_come_first_served_on_the_decode_threads():
    adm = admission(budget_s=100, clip_s=1.0, threads=2)
    tickets = [adm.admit(Cost(clips=1, pixels=4_000_000), adm.clock()) for _ in range(3)]  # 4 s of decoding each
    assert adm.finish_bounds(tickets) == [4 + 3, 4 + 3, 6 + 3]  # decode, then the clips
    adm.prepared(tickets[0], seconds=2.0)  # measured: 0.5 us a pixel
    assert adm.rates.pixel_s == pytest.approx(1e-6 + 0.3 * (0.5e-6 - 1e-6))


def test_a_request_at_the_model_is_delayed_by_later_ones_only_beyond_its_queued_chunk():
    adm = admission(budget_s=100, clip_s=1.0)
    first, second = (adm.admit(Cost(clips=n, pixels=0), adm.clock()) for n in (1, 3))
    adm.prepared(first, 0.0)
    adm.prepared(second, 0.0)
    later = adm.admit(Cost(clips=10, pixels=0), adm.clock())
    bounds = adm.finish_bounds([first, second, later])
    assert bounds == [1, 1 + 3 + 2, 1 + 3 + 10]  # the first: its one chunk is queued, nobody gets ahead of it


def test_the_gate_refuses_early_what_even_the_lightest_recent_request_could_not_do():
    adm = admission(budget_s=10, clip_s=1.0, threads=2)
    for _ in range(3):  # decoding 4 s each on two threads, one clip each: the third done within 6 + 3 s
        adm.admit(Cost(clips=1, pixels=4_000_000), adm.clock())
    assert adm.full() is not None  # a fourth like them: 8 + 4 s
    assert adm.refusal(Cost(clips=1, pixels=0), adm.clock()) is None  # one without decoding still fits: 6 + 4 s
    assert len(adm.tickets) == 3


def test_the_gate_counts_one_clip_of_the_lightest_request_not_all_its_clips():
    adm = admission(budget_s=10, clip_s=0.01, threads=1)
    with pytest.raises(ServiceUnavailable):
        adm.admit(Cost(clips=100, pixels=1_000_000, clip_pixels=1_000_000), adm.clock())  # 101 s of decoding
    assert adm.full() is None  # one clip of it: 2 s


def test_estimates_keep_headroom_by_default():
    adm = Admission(10, 1, 1, 1, Rates(clip_s=1.0), clock=Clock())
    adm.admit(Cost(clips=4, pixels=0), adm.clock())
    assert math.isclose(adm.finish_bounds(adm.tickets)[0], 4 * HEADROOM)
    with pytest.raises(ServiceUnavailable):
        adm.admit(Cost(clips=5, pixels=0), adm.clock())  # 4 + 5 = 9 s fits 10 s only without the headroom


def test_the_model_share_counts_every_api_process():
    adm = admission(budget_s=100, clip_s=1.0, share=3)
    adm.admit(Cost(clips=2, pixels=0), adm.clock())
    assert math.isclose(adm.finish_s(), 6) and adm.finish_bounds(adm.tickets) == [6]


def chunk(clips: int, deadline: float = math.inf) -> ModelInput:
    return ModelInput(imgs=np.zeros((clips, 1)), heatmaps=np.zeros((clips, 1)), deadline=deadline)


class Model:
    """Records each batch (as chunk sizes, tagged by request) and answers after ``delay`` seconds."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.batches: list[list[str]] = []
        self.tags: dict[int, str] = {}

    def __call__(self, items):
        self.batches.append([self.tags[id(item.imgs)] for item in items])
        time.sleep(self.delay)
        return [{"rgb": np.full(3, 0.5), "pose": np.full(3, 0.5)} for _ in items]


def test_a_light_request_waits_about_one_batch_behind_a_heavy_one():
    model = Model()

    async def scenario():
        batcher = Batcher(model, max_clips=2, max_chunks=2)

        async def request(tag: str, clips: int, per_chunk: int) -> None:
            for _ in range(0, clips, per_chunk):  # one chunk at a time, as dispatch.run_clips sends them
                part = chunk(per_chunk)
                model.tags[id(part.imgs)] = tag
                out = await batcher.submit(part)
                assert out.clips == per_chunk and out.error is None

        heavy = asyncio.create_task(request("heavy", 20, 2))
        while not model.batches:
            await asyncio.sleep(0.001)
        await request("light", 1, 1)
        assert not heavy.done()
        await heavy

    asyncio.run(scenario())
    light = next(i for i, batch in enumerate(model.batches) if "light" in batch)
    assert light <= 1, model.batches  # behind the batch that was running when it came, not behind 10 of them
    assert sum(batch.count("heavy") for batch in model.batches) == 10


def test_chunks_past_their_deadline_are_dropped_unrun():
    model = Model(delay=0.2)

    async def scenario():
        batcher = Batcher(model, max_clips=1, max_chunks=1)
        first, late = chunk(1), chunk(1, deadline=time.time() + 0.05)
        model.tags[id(first.imgs)], model.tags[id(late.imgs)] = "first", "late"
        return await asyncio.gather(batcher.submit(first), batcher.submit(late))

    done, dropped = asyncio.run(scenario())
    assert done.clips == 1 and not done.dropped
    assert dropped.dropped and dropped.clips == 0
    assert model.batches == [["first"]]  # the late chunk never reached the model
