"""A request's options, defined once: the HTTP form's optional fields, `pcan predict`'s flags and what the Ray
executor ships to its replicas are all this model; :meth:`Frontend.check` holds it against the served model."""

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from ..preprocess.windows import check_window_request
from .prediction import Contract

MAX_DIGITS = 9


def ascii_int(value: Any) -> Any:
    """Text must be plain ASCII digits (at most 9): no sign, underscore, Unicode digit or exponent, which
    Python's ``int()`` would accept (``'٥'`` -> 5, ``'5_0'`` -> 50); other values pass to the int check."""
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(rf"[0-9]{{1,{MAX_DIGITS}}}", text):
            raise ValueError(f"expected a whole number written in ASCII digits (at most {MAX_DIGITS})")
        return int(text)
    return value


AsciiInt = Annotated[int, BeforeValidator(ascii_int)]


class PredictOptions(Contract):
    """How to classify one video (each default is what an omitted form field or flag means)."""

    top_k: AsciiInt | None = Field(None, ge=1, description="Classes listed per branch; default 5, or the class count.")
    fusion: Literal["late", "fused"] = Field(
        "late", description="The served prediction: `late` fusion of rgb and pose, or the `fused` head."
    )
    num_clips: AsciiInt = Field(1, ge=1, description="Clips sampled uniformly and averaged (at most the limit).")
    window: float | None = Field(
        None, gt=0, description="Seconds: with `stride`, also classify overlapping windows (a `timeline`)."
    )
    stride: float | None = Field(None, gt=0, description="Seconds between the starts of consecutive windows.")

    @model_validator(mode="after")
    def _windows(self) -> "PredictOptions":
        check_window_request(self.window, self.stride)  # one rule: both or neither, stride <= window
        return self
