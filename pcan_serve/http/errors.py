"""The HTTP service's one error table: the status of each error, and the errors only the HTTP edge raises.

Every answer that is not a prediction is ``{"error": {"type", "message"}}``; ``type`` is the error's class name.
"""

from ..errors import (
    BackendUnavailable,
    CheckpointError,
    FrameTooLarge,
    InvalidRequest,
    InvalidSkeleton,
    InvalidVideo,
    MissingInput,
    PayloadTooLarge,
    PCANError,
    TooManyClips,
    VideoTooLong,
)


class ClientClosed(PCANError):
    """The client went away before its request was read or answered (nginx's 499); nothing to answer."""


class ServiceUnavailable(PCANError):
    """The model is not ready, or cannot take the request within the latency budget; retry after
    ``retry_after_s`` seconds (the answer's ``Retry-After`` header)."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class UploadTimeout(PCANError):
    """The upload did not arrive within the server's time limit (PCAN_TIMEOUT_S, counted from the request's start)."""


class RequestTimeout(PCANError):
    """The request did not finish within the server's time limit (PCAN_TIMEOUT_S)."""


# First match by class, in order (subclasses before their bases).
STATUSES: tuple[tuple[type[PCANError], int], ...] = (
    (TooManyClips, 422),
    (InvalidRequest, 400),
    (MissingInput, 400),
    (PayloadTooLarge, 413),
    (VideoTooLong, 413),
    (FrameTooLarge, 413),
    (InvalidVideo, 422),
    (InvalidSkeleton, 422),
    (UploadTimeout, 408),
    (ClientClosed, 499),
    (ServiceUnavailable, 503),
    (BackendUnavailable, 503),
    (CheckpointError, 503),
    (RequestTimeout, 504),
    (PCANError, 400),
)


def status_of(exc: PCANError) -> int:
    return next(code for kind, code in STATUSES if isinstance(exc, kind))
