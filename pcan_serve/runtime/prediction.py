"""The prediction object, defined once: what ``Predictor.predict`` returns, one ``pcan predict`` output row and one
``POST /predict`` response body. The HTTP OpenAPI schema, the CLI's CSV columns and the field table in
docs/formats.md are all derived from these models, so a field added here appears in each of them.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import PCANError


class Contract(BaseModel):
    """Frozen, no unknown fields; serialised without the optional fields a request did not ask for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, optional fields that are None left out (what the CLI writes and HTTP answers)."""
        return self.model_dump(mode="json", exclude_none=True)


class ClassScore(Contract):
    label: int = Field(description="Class index (NTU-60 order).")
    name: str = Field(description="Class name.")
    score: float = Field(description="Probability (temperature-scaled when the model is calibrated).")


TopK = Annotated[list[ClassScore], Field(description="Best classes, most probable first.")]


class BranchScores(Contract):
    """One branch's answer."""

    top_k: TopK


class ServedModel(Contract):
    """Which model answered."""

    name: str = Field(description="`pcan-<preset>`, e.g. `pcan-ntu60`.")
    backend: Literal["torch", "onnxruntime", "tensorrt"] = Field(description="Runtime that ran the forward pass.")
    weights: Literal["trained", "untrained"] = Field(
        description="`untrained`: no model was given and seeded untrained weights answered (meaningless answers)."
    )
    fused_head: bool = Field(description="The fused head is trained (else `branches.fused` is absent).")
    calibrated: bool = Field(description="Scores are temperature-scaled per branch (`pcan calibrate`).")


class SkeletonInfo(Contract):
    """Where the skeleton came from."""

    source: Literal["uploaded", "estimated"] = Field(
        description="`uploaded`: given with the video, used as is; `estimated`: pcan's pose estimator made it."
    )
    persons: int = Field(description="Persons in the skeleton the model saw.")
    estimator: str | None = Field(None, description="The pose estimator that made it (estimated skeletons only).")


class Timing(Contract):
    """Milliseconds per stage of this item."""

    decode: float = Field(0.0, description="Opening and decoding the sampled frames.")
    pose: float = Field(0.0, description="Estimating the skeleton (video-only requests): detector + pose model.")
    preprocess: float = Field(0.0, description="Skeleton parsing, cropping, resizing, heatmaps.")
    inference: float = Field(0.0, description="This item's share of its batch's forward passes.")
    total: float = Field(0.0, description="Sum of the stages.")


Branches = Annotated[
    dict[Literal["rgb", "pose", "fused"], BranchScores],
    Field(description="Per-branch best classes: `rgb`, `pose`, and `fused` when the fused head is trained."),
]


class Window(Contract):
    """One window of a timeline: its time span and what the model saw in it."""

    start: float = Field(description="Seconds from the start of the video (the window's first frame).")
    end: float = Field(description="Seconds; the window covers [start, end).")
    top_k: TopK
    branches: Branches


class Prediction(Contract):
    """One video's answer: the served prediction, its top-k, each branch's top-k, the model and the timings."""

    video: str = Field(description="The video's path (CLI) or the uploaded file's name (HTTP).")
    ok: Literal[True] = Field(True, description="Always true for a prediction; false rows are failures.")
    prediction: ClassScore = Field(description="The served fusion's best class.")
    fusion: str = Field(description="What was served: `late_R:P` (late fusion with weights rgb:pose) or `fused`.")
    top_k: TopK
    branches: Branches
    model: ServedModel = Field(description="Which model answered.")
    skeleton: SkeletonInfo = Field(description="Where the skeleton came from.")
    timeline: list[Window] | None = Field(
        None, description="Overlapping windows in time order, each answered alone; only when `window` was asked for."
    )
    timing_ms: Timing = Field(description="Milliseconds per stage of this item.")


class ErrorBody(Contract):
    type: str = Field(description="The error's kind, e.g. InvalidSkeleton, InvalidVideo, PayloadTooLarge.")
    message: str = Field(description="What was wrong with which input, in words.")


class Failure(Contract):
    """One item that could not be answered; a run goes on past it."""

    video: str = Field(description="The video's path or file name.")
    ok: Literal[False] = Field(False, description="Always false for a failure.")
    error: ErrorBody = Field(description="Why the item failed.")

    @classmethod
    def of(cls, video: str, error: BaseException) -> "Failure":
        """A typed pcan error by its type and message; anything else by its exception type (still one item)."""
        if isinstance(error, PCANError):
            kind, message = error.type, str(error)
        else:
            kind, message = type(error).__name__, str(error) or repr(error)
        return cls(video=video, error=ErrorBody(type=kind, message=message))


Row = Prediction | Failure
