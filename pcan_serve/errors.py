"""Domain errors: what went wrong, in words about the inputs and the model, never about flags or HTTP codes.

Each front end maps them in one table: the CLI to exit codes and error rows (``cli/errors.py``), the HTTP
service to statuses (``http/errors.py``). The class name is the ``type`` users see in an error body or row.
"""


class PCANError(Exception):
    """Base of every error pcan reports to users by type and message."""

    @property
    def type(self) -> str:
        return type(self).__name__


class CheckpointError(PCANError):
    """A model file cannot be used (missing, unreadable, not pcan's, inconsistent metadata)."""


class UnsafeCheckpoint(CheckpointError):
    """The checkpoint needs a Python type outside the allowlist; it was not unpickled."""


class CheckpointMismatch(CheckpointError):
    """The checkpoint's tensors do not fit the model architecture."""


class BackendUnavailable(PCANError):
    """The runtime or device asked for (TensorRT, CUDA, a GPU index) is not installed or not present here."""


class InvalidRequest(PCANError):
    """A request parameter is out of range or malformed (top_k, fusion, num_clips, a form field, a device name)."""


class TooManyClips(InvalidRequest):
    """More clips asked for than the per-request limit allows."""


class MissingInput(PCANError):
    """A required input does not exist: a video or skeleton file, a form's file field."""


class PayloadTooLarge(PCANError):
    """An input is over its size cap before it is read (upload, skeleton file)."""


class InvalidManifest(PCANError):
    """A manifest (the list of items of a run) is missing, malformed or empty."""


class InvalidSkeleton(PCANError):
    """The skeleton file is malformed: wrong keys, shapes, joint count, non-finite numbers, scores."""


class SkeletonVideoMismatch(InvalidSkeleton):
    """The skeleton's frame count or image shape disagrees with the video beyond the tolerance."""


class TooManyPersons(InvalidSkeleton):
    """More persons than the configured cap."""


class InvalidVideo(PCANError):
    """The video cannot be decoded (corrupt, unsupported, not a video)."""


class EmptyVideo(InvalidVideo):
    """The video decodes to zero frames."""


class NoPersonDetected(InvalidVideo):
    """The pose estimator found nobody in the video (a skeleton cannot be estimated)."""


class VideoTooLong(InvalidVideo):
    """More frames than the configured cap."""


class FrameTooLarge(InvalidVideo):
    """Frames of more pixels than the configured cap (declared by the header, or as decoded)."""


class WorkerCrashed(PCANError):
    """The process working on an item died on every try (a crash in native code, out of memory): that item's
    answer is lost, not the run."""
