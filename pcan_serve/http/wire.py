"""What the API process and the model process send each other (BentoML IO descriptors, pickled between them)."""

import math

import bentoml
import numpy as np
from pydantic import Field


class ModelInput(bentoml.IODescriptor):
    """A chunk of one request's clips, as ``Frontend.prepare`` made them, and when its answer stops being useful."""

    imgs: np.ndarray  # [clips, 3, T, H, W]
    heatmaps: np.ndarray  # [clips, 17, T', h, w]
    deadline: float = math.inf  # time.time() past which the chunk is dropped unrun (the request has been answered)


class ModelOutput(bentoml.IODescriptor):
    """The chunk's clip-averaged probabilities, one row per branch; or why there are none."""

    branches: list[str] = []
    probs: np.ndarray = Field(default_factory=lambda: np.zeros((0, 0), np.float32))  # [branches, classes]
    clips: int = 0
    clip_ms: float = 0.0  # the batch's forward time per clip: the model's measured rate
    error: str | None = None  # the model failed on this chunk
    dropped: bool = False  # its deadline had passed when its turn came: never run

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.branches, self.probs, strict=True))
