"""POST /predict's body: a multipart form parsed strictly, within a size cap, into a private temp dir.

Only uploaded bytes are used: text where a file belongs is rejected (BentoML's own file fields would fetch
a URL given as text), no field can name a server path, and the video is written under a fresh 0700
directory that is removed when the request ends. Every problem raises a typed ``PCANError``; an upload still
incomplete at the request's deadline ends with ``UploadTimeout`` (408), so a slow sender holds nothing longer.
"""

import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from ..errors import EmptyVideo, InvalidRequest, InvalidSkeleton, MissingInput, PayloadTooLarge
from ..preprocess.skeleton_io import check_size
from ..runtime.request import PredictOptions
from .deadline import Wanted
from .errors import ClientClosed, UploadTimeout

FILE_FIELDS = ("video", "skeleton")
OPTION_FIELDS = tuple(PredictOptions.model_fields)
FIELDS = (*FILE_FIELDS, *OPTION_FIELDS)
MAX_TEXT_FIELD = 1024
MAX_NAME = 120


@dataclass
class PredictRequest:
    """A parsed upload; ``close()`` deletes the video's private copy."""

    video_name: str
    video_path: Path
    skeleton: bytes | None  # None: estimated from the video
    options: PredictOptions
    wanted: Wanted

    def close(self) -> None:
        shutil.rmtree(self.video_path.parent, ignore_errors=True)

    def __enter__(self) -> "PredictRequest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sanitize_filename(name: str | None, default: str = "video") -> str:
    """The last path component, reduced to safe characters: it is echoed in responses and names a file."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._()+-]", "_", base).lstrip(".")[-MAX_NAME:]
    return base or default


def check_headers(headers: Mapping[str, str], max_bytes: int) -> None:
    """Rejects a non-multipart body or a declared size over the cap before any byte is read."""
    content_type = headers.get("content-type", "")
    media = content_type.split(";")[0].strip()
    if media.lower() != "multipart/form-data":
        raise InvalidRequest(
            "POST /predict takes multipart/form-data with the file 'video' (and optional 'skeleton' file) "
            f"(and optional {', '.join(OPTION_FIELDS)}), not {media or 'an untyped body'!r}"
        )
    length = headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise InvalidRequest(f"invalid Content-Length header {length!r}")
        if int(length) > max_bytes:
            raise PayloadTooLarge(_too_large(max_bytes, int(length)))


def _too_large(max_bytes: int, size: int | None = None) -> str:
    limit = f"the limit is {max_bytes / 2**20:g} MiB (PCAN_MAX_UPLOAD_MB)"
    return f"request body is {size / 2**20:.1f} MiB; {limit}" if size is not None else f"request body exceeds {limit}"


async def _capped(stream: AsyncIterator[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(_too_large(max_bytes))
        yield chunk


def parse_options(fields: Mapping[str, str]) -> PredictOptions:
    """The request contract from the form's text fields (integers in ASCII digits only)."""
    try:
        return PredictOptions(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        text = str(first["input"])[:40]
        raise InvalidRequest(f"{first['loc'][0]}: {first['msg'].removeprefix('Value error, ')}, got {text!r}") from None


def _one_file(form: Mapping, name: str, required: bool = True) -> UploadFile | None:
    values = form.getlist(name)  # type: ignore[attr-defined]
    if not values:
        if not required:
            return None
        raise MissingInput(f"the form has no '{name}' file")
    if len(values) > 1:
        raise InvalidRequest(f"the form has {len(values)} '{name}' fields; send one")
    value = values[0]
    if not isinstance(value, UploadFile):
        raise InvalidRequest(f"'{name}' must be an uploaded file, not a text field")
    return value


async def read_predict_form(
    request: Request, max_bytes: int, max_skeleton_bytes: int, wanted: Wanted
) -> PredictRequest:
    """Parse and check the form before ``wanted``'s deadline; the caller must ``close()`` the result."""
    check_headers(request.headers, max_bytes)
    try:
        with anyio.fail_after(wanted.left_s()):
            return await _read_form(request, max_bytes, max_skeleton_bytes, wanted)
    except TimeoutError:
        raise UploadTimeout(
            f"the upload did not arrive within {wanted.timeout_s} s of the request's start (PCAN_TIMEOUT_S)"
        ) from None


async def _read_form(request: Request, max_bytes: int, max_skeleton_bytes: int, wanted: Wanted) -> PredictRequest:
    parser = MultiPartParser(
        request.headers,
        _capped(request.stream(), max_bytes),
        max_files=len(FILE_FIELDS),
        max_fields=len(FIELDS),
        max_part_size=MAX_TEXT_FIELD,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"malformed multipart form: {exc.message}") from None
    except ClientDisconnect:
        raise ClientClosed("the client closed the connection during the upload") from None
    try:
        unknown = sorted(set(form.keys()) - set(FIELDS))
        if unknown:
            raise InvalidRequest(f"unknown form fields {unknown}; expected {list(FIELDS)}")
        video, skeleton = _one_file(form, "video"), _one_file(form, "skeleton", required=False)
        fields: dict[str, str] = {}
        for name in OPTION_FIELDS:
            values = form.getlist(name)
            if len(values) > 1:
                raise InvalidRequest(f"the form has {len(values)} '{name}' fields; send one")
            if values:
                if not isinstance(values[0], str):
                    raise InvalidRequest(f"'{name}' must be a text field, not a file")
                fields[name] = values[0].strip()
        options = parse_options(fields)
        if not video.size:
            raise EmptyVideo("video: the upload is empty (0 bytes)")
        skeleton_bytes = None  # no skeleton: the server estimates it from the video
        if skeleton is not None:
            if not skeleton.size:
                raise InvalidSkeleton("skeleton: the upload is empty (0 bytes)")
            check_size(skeleton.size, max_skeleton_bytes, "skeleton")  # before it is read into memory
            skeleton_bytes = await skeleton.read()
        name = sanitize_filename(video.filename)
        folder = Path(tempfile.mkdtemp(prefix="pcan-upload-"))  # mode 0700, unique per request
        path = folder / name
        try:
            await anyio.to_thread.run_sync(_copy, video, path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return PredictRequest(name, path, skeleton_bytes, options, wanted)
    finally:
        await form.close()


def _copy(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with path.open("xb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
