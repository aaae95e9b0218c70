"""pcan's OpenAPI document: BentoML's generated one with pcan's title, version and description, the
prediction and error schemas, and every status POST /predict answers (BentoML lists 400/404/500 only)."""

import copy
from importlib import metadata
from typing import Any

from ..runtime.prediction import Contract, ErrorBody, Prediction

DESCRIPTION = """\
PCAN classifies a video and its COCO-17 skeleton into the 60 action classes of NTU RGB+D, with a
confidence per branch (RGB, pose, fused head) and their late fusion.

**POST /predict** takes a multipart form: `video` (file), `skeleton` (JSON file: `keypoint` [persons][frames][17][2],
`keypoint_score` [persons][frames][17], `img_shape` [height, width], `total_frames`), and optional `top_k`,
`fusion` (`late` | `fused`), `num_clips`. It answers the prediction object; every error, whatever its status,
is `{"error": {"type": ..., "message": ...}}`.

Try it on the demo page at `/`, here (Swagger UI at `/docs`), or:
`curl -F video=@clip.mp4 -F skeleton=@clip.json http://HOST:3000/predict`.
Health: `/livez`, `/readyz`; Prometheus metrics: `/metrics`; this document: `/docs.json`.
"""

ERROR_STATUSES = {
    "400": "Bad request: a missing or malformed form field, a request parameter out of range.",
    "404": "No such route.",
    "405": "Method not allowed on this route.",
    "408": "The upload did not arrive within the server's time limit (PCAN_TIMEOUT_S, counted from the request's "
    "start).",
    "413": "An input over a server limit: the upload (PCAN_MAX_UPLOAD_MB), the skeleton (PCAN_MAX_SKELETON_MB), "
    "the video's frames (PCAN_MAX_FRAMES) or their size (PCAN_MAX_PIXELS).",
    "422": "The video or skeleton cannot be used: corrupt or empty video, malformed skeleton, too many persons, "
    "skeleton and video disagree.",
    "503": "Refused at once: the server cannot answer within its latency budget (PCAN_LATENCY_BUDGET_S), has "
    "PCAN_MAX_QUEUE requests in progress, or its model worker is not running. Retry after the `Retry-After` header's "
    "seconds.",
    "504": "The request did not finish within the server's time limit (PCAN_TIMEOUT_S).",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}

REF = "#/components/schemas/{model}"


class ErrorResponse(Contract):
    """Every answer that is not a prediction, whatever its status."""

    error: ErrorBody


def contract_schemas(models: tuple[type[Contract], ...] = (Prediction, ErrorResponse)) -> dict[str, Any]:
    """JSON schemas of the prediction and the error body, generated from their pydantic models."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


FORM_DESCRIPTION = "The video, its skeleton and the request's options."


def pcan_version() -> str:
    try:
        return metadata.version("pcan")
    except metadata.PackageNotFoundError:
        return "unknown"


def patch_spec(spec: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    """A copy of BentoML's document for the service, completed for pcan's API."""
    out = copy.deepcopy(spec)
    out["info"] = {"title": "pcan", "version": version or pcan_version(), "description": DESCRIPTION}
    schemas = out.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(name, None)
    schemas.update(contract_schemas())
    post = out.get("paths", {}).get("/predict", {}).get("post")
    if post is not None:
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        ok = {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}}
        post["responses"] = {"200": {"description": "The prediction.", "content": ok}}
        post["responses"].update({k: {"description": v, "content": error} for k, v in ERROR_STATUSES.items()})
        post["responses"]["503"]["headers"] = RETRY_AFTER
        post["description"] = "Classify one video with its skeleton."
        form = post.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
        form.pop("encoding", None)  # text fields, not JSON parts; `upload` is internal
        if "schema" in form:
            form["schema"]["description"] = FORM_DESCRIPTION
    return out
