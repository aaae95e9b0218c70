"""The service's batching defaults follow the device it serves on: 8 clips a forward on the CPU, GPU_BATCH on a GPU
(PCAN_DEVICE=cuda resolves without asking torch, so this is checked on any machine); the environment always wins."""

import pytest

from pcan_serve.http.settings import CPU_BATCH, GPU_BATCH, ServiceSettings


@pytest.mark.parametrize(("device", "expected"), [("cpu", CPU_BATCH), ("cuda", GPU_BATCH), ("cuda:1", GPU_BATCH)])
def test_batching_defaults_follow_the_device(monkeypatch, device, expected):
    monkeypatch.delenv("PCAN_BATCH_SIZE", raising=False)
    monkeypatch.delenv("PCAN_MAX_BATCH", raising=False)
    monkeypatch.setenv("PCAN_DEVICE", device)
    settings = ServiceSettings.from_env()
    assert settings.batch_size == settings.max_batch_items == expected
    assert GPU_BATCH > CPU_BATCH


def test_the_environment_wins_on_a_gpu(monkeypatch):
    monkeypatch.setenv("PCAN_DEVICE", "cuda")
    monkeypatch.setenv("PCAN_BATCH_SIZE", "16")
    monkeypatch.setenv("PCAN_MAX_BATCH", "4")
    settings = ServiceSettings.from_env()
    assert (settings.batch_size, settings.max_batch_items) == (16, 4)


def test_an_unknown_device_is_refused(monkeypatch):
    monkeypatch.setenv("PCAN_DEVICE", "tpu")
    with pytest.raises(ValueError, match="tpu"):
        ServiceSettings.from_env()
