"""The service's batching defaults follow the device it serves on: CPU_BATCH clips a forward on the CPU, GPU_BATCH on a
GPU (PCAN_DEVICE=cuda is taken at its word, so this is checked on any machine); the environment always wins."""

import pytest

from pcan_serve.http.settings import CPU_BATCH, GPU_BATCH, SettingsError, load_settings


@pytest.mark.parametrize(("device", "expected"), [("cpu", CPU_BATCH), ("cuda", GPU_BATCH), ("cuda:1", GPU_BATCH)])
def test_batching_defaults_follow_the_device(monkeypatch, device, expected):
    monkeypatch.delenv("PCAN_BATCH_SIZE", raising=False)
    monkeypatch.delenv("PCAN_MAX_BATCH", raising=False)
    monkeypatch.setenv("PCAN_DEVICE", device)
    settings = load_settings()
    assert settings.clips_per_forward == settings.requests_per_batch == expected


def test_the_environment_wins_on_a_gpu(monkeypatch):
    monkeypatch.setenv("PCAN_DEVICE", "cuda")
    monkeypatch.setenv("PCAN_BATCH_SIZE", "16")
    monkeypatch.setenv("PCAN_MAX_BATCH", "4")
    settings = load_settings()
    assert (settings.clips_per_forward, settings.requests_per_batch) == (16, 4)


def test_an_unknown_device_is_refused(monkeypatch):
    monkeypatch.setenv("PCAN_DEVICE", "tpu")
    with pytest.raises(SettingsError, match="PCAN_DEVICE.*tpu"):
        load_settings()
