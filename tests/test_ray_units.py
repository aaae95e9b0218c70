"""The pieces of `--executor ray` that need no cluster: writing rows in input order once, and sizing a job so
that its resource requests always fit."""

import pytest

from pcan_serve.cli.errors import UsageError
from pcan_serve.cli.ray_cluster import plan
from pcan_serve.cli.reorder import InOrder


def test_rows_are_written_in_input_order_and_once():
    written = []
    order = InOrder(written.append)
    for index in (2, 0, 3, 0, 5, 1, 2):  # late, early, repeated (a retried task's second row)
        order.push(index, {"video": f"v{index}"})
    assert [r["video"] for r in written] == ["v0", "v1", "v2", "v3"]
    assert order.written == 4 and order.held == 1 and order.duplicates == 2
    assert order.missing(6) == [4]
    order.push(4, {"video": "v4"})
    assert order.missing(6) == [] and [r["video"] for r in written][-2:] == ["v4", "v5"]


def test_two_cpus_get_one_replica_and_one_decode_task():
    p = plan({"CPU": 2.0}, "auto", None, None)
    assert (p.replicas, p.replica_cpus, p.replica_gpus, p.decode_cpus, p.device) == (1, 1.0, 0.0, 1.0, "cpu")


def test_replicas_default_to_three_quarters_of_the_cpus_or_one_per_gpu():
    assert plan({"CPU": 16.0}, "auto", None, None).replicas == 12
    gpu = plan({"CPU": 16.0, "GPU": 4.0}, "auto", None, None)
    assert (gpu.replicas, gpu.replica_gpus, gpu.device) == (4, 1.0, "cuda")
    assert plan({"CPU": 16.0, "GPU": 4.0}, "cpu", None, None).device == "cpu"  # --device cpu leaves GPUs alone


@pytest.mark.parametrize(
    "resources, device, replicas, decode_cpus, message",
    [
        ({"CPU": 2.0}, "auto", 2, None, "would wait forever"),
        ({"CPU": 2.0}, "auto", 1, 1.5, "would wait forever"),
        ({"CPU": 8.0, "GPU": 1.0}, "cuda", 2, None, "would wait forever"),
        ({"CPU": 8.0}, "cuda", None, None, "has no GPU"),
        ({"CPU": 8.0}, "auto", None, 0.0, "must be positive"),
    ],
)
def test_requests_that_cannot_fit_are_refused(resources, device, replicas, decode_cpus, message):
    with pytest.raises(UsageError, match=message):
        plan(resources, device, replicas, decode_cpus)
