"""Typed errors; each maps to an error row (CLI) or a 4xx body (HTTP) with its class name as ``type``."""


class PCANError(Exception):
    """Base of every error pcan reports to users by type and message."""

    http_status = 400

    @property
    def type(self) -> str:
        return type(self).__name__


class CheckpointError(PCANError):
    """A checkpoint cannot be used."""


class UnsafeCheckpoint(CheckpointError):
    """The checkpoint needs a Python type outside the allowlist; it was not unpickled."""


class CheckpointMismatch(CheckpointError):
    """The checkpoint's tensors do not fit the model architecture."""


class InvalidSkeleton(PCANError):
    """The skeleton file is malformed: wrong keys, shapes, joint count, non-finite numbers, scores."""

    http_status = 422


class SkeletonVideoMismatch(InvalidSkeleton):
    """The skeleton's frame count or image shape disagrees with the video beyond the tolerance."""


class TooManyPersons(InvalidSkeleton):
    """More persons than the configured cap."""


class InvalidVideo(PCANError):
    """The video cannot be decoded (corrupt, unsupported, not a video)."""

    http_status = 422


class EmptyVideo(InvalidVideo):
    """The video decodes to zero frames."""


class NoPersonDetected(InvalidVideo):
    """The pose estimator found nobody in the video (a skeleton cannot be estimated)."""


class VideoTooLong(InvalidVideo):
    """More frames than the configured cap."""

    http_status = 413


class FrameTooLarge(InvalidVideo):
    """Frames of more pixels than the configured cap (declared by the header, or as decoded)."""

    http_status = 413


class MissingInput(PCANError):
    """A required input (e.g. the sidecar skeleton) does not exist."""


class InvalidRequest(PCANError):
    """A request parameter is out of range or malformed."""


class PayloadTooLarge(PCANError):
    """An upload exceeds the size cap."""

    http_status = 413


class BackendUnavailable(PCANError):
    """The requested runtime (e.g. TensorRT, CUDA) is not installed or has no device here."""


class ClientClosed(PCANError):
    """The client went away before its request was read or answered (nginx's 499); nothing to answer."""

    http_status = 499


class RequestTimeout(PCANError):
    """The request did not finish within the server's time limit."""

    http_status = 504


class ServiceUnavailable(PCANError):
    """The model is not ready or is overloaded."""

    http_status = 503
