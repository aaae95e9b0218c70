"""The service's HTTP edge (ASGI middleware and error bodies): every answer that is not a prediction has the
``{"error": {"type", "message"}}`` shape, and ``/docs.json`` is pcan's OpenAPI document."""

import json
import logging
import time
from http import HTTPStatus
from typing import Any

import anyio
import bentoml
from bentoml.exceptions import BentoMLException
from starlette.responses import JSONResponse

from ..errors import PCANError
from ..runtime.prediction import Failure
from .admission import IN_FLIGHT, REJECTIONS, Admission
from .deadline import ARRIVED
from .errors import ServiceUnavailable, status_of
from .form import check_headers
from .openapi import patch_spec

logger = logging.getLogger("bentoml.pcan")  # under bentoml: its serve logging shows it
DRAIN_BYTES = 16 * 2**20
DRAIN_S = 2.0
REWRITTEN = {404: ("NotFound", "no such route: {path}"), 405: ("MethodNotAllowed", "{method} is not allowed on {path}")}


OUTCOMES = bentoml.metrics.Counter(
    name="pcan_requests",
    documentation="POST /predict answers by outcome: ok, client_error (4xx), upload_timeout (408), client_closed "
    "(the client left, nginx's 499), overloaded (503), timeout (504), server_error (500)",
    labelnames=["outcome"],
)


def count(outcome: str) -> None:
    OUTCOMES.labels(outcome=outcome).inc()


def error_response(exc: BaseException) -> JSONResponse:
    """``{"error": {"type", "message"}}`` with the error's HTTP status (500 for anything unexpected)."""
    if isinstance(exc, BentoMLException) and exc.error_code == HTTPStatus.SERVICE_UNAVAILABLE:
        exc = ServiceUnavailable("the model is overloaded; retry later")
    if isinstance(exc, PCANError):
        status = status_of(exc)
        outcome = {408: "upload_timeout", 499: "client_closed", 503: "overloaded", 504: "timeout"}
        if status == 499:
            logger.info("POST /predict: %s", exc)
        count(outcome.get(status, "client_error"))
        retry = exc.retry_after_s if isinstance(exc, ServiceUnavailable) else 1
        headers = {"Retry-After": str(retry)} if status == 503 else None
        return JSONResponse({"error": Failure.of("", exc).error.to_dict()}, status_code=status, headers=headers)
    logger.error("POST /predict failed", exc_info=exc)
    count("server_error")
    body = {"type": "InternalError", "message": f"{type(exc).__name__}: see the server log"}
    return JSONResponse({"error": body}, status_code=500)


class PredictGate:
    """ASGI middleware for POST /predict: stamps the request's arrival (its deadline counts from it), and refuses at
    once, before the body is parsed: a non-multipart body or a declared-oversize one (before BentoML's own
    content-type handling, which answers some media types in its own format); with 503 and ``Retry-After``, a request
    over ``max_queue`` in progress in this process, or any request while even the least one cannot be admitted
    (``Admission.full``). A refused body is read and dropped first (up to ``DRAIN_BYTES``, ``DRAIN_S``): a server that
    answers and closes while the client still sends makes the client see a reset connection instead of the answer.

    BentoML's ``traffic.max_concurrency`` would cap requests too, but it answers 429 ``{"error": "Too many
    requests"}`` from outside the service's middleware, where pcan cannot give it the documented shape."""

    def __init__(self, app: Any, path: str, max_bytes: int, max_queue: int, admission: Admission) -> None:
        self.app, self.path, self.max_bytes, self.max_queue = app, path, max_bytes, max_queue
        self.admission = admission
        self.active = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope[ARRIVED] = time.monotonic()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            check_headers(headers, self.max_bytes)
            if self.active >= self.max_queue:
                REJECTIONS.labels(reason="queue_full").inc()
                raise ServiceUnavailable(
                    f"{self.active} requests are in progress, the most this server takes (PCAN_MAX_QUEUE)",
                    self.admission.retry_after_s(),
                )
            refused = self.admission.full()
            if refused is not None:
                raise refused
        except ServiceUnavailable as exc:
            await _drain(receive)
            await error_response(exc)(scope, receive, send)
            return
        except PCANError as exc:
            await error_response(exc)(scope, receive, send)
            return
        self.active += 1
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            IN_FLIGHT.dec()


async def _drain(receive: Any) -> None:
    """Read and drop a request body, up to DRAIN_BYTES or DRAIN_S."""
    total = 0
    with anyio.move_on_after(DRAIN_S):
        while total <= DRAIN_BYTES:
            message = await receive()
            total += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                return


class ApiEdge:
    """ASGI middleware: ``/docs.json`` completed by :func:`patch_spec`, and BentoML's plain-text 404/405 answers
    replaced by pcan's JSON error body (``/`` and ``/docs``: :class:`~.demo.DemoPage`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] == "/docs.json"
        held: dict[str, Any] = {}
        body = bytearray()

        async def edge_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if (docs and status == 200) or (status in REWRITTEN and not _is_json(message)):
                    held["start"] = message  # answered once the body is complete
                    return
                await send(message)
            elif message["type"] == "http.response.body" and "start" in held:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await _replace(held["start"], bytes(body), scope, receive, send)
            else:
                await send(message)

        await self.app(scope, receive, edge_send)


def _is_json(start: dict) -> bool:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
    return headers.get("content-type", "").startswith("application/json")


async def _replace(start: dict, body: bytes, scope: dict, receive: Any, send: Any) -> None:
    status = start["status"]
    if status == 200:  # /docs.json
        await JSONResponse(patch_spec(json.loads(body)))(scope, receive, send)
        return
    kind, message = REWRITTEN[status]
    error = {"type": kind, "message": message.format(path=scope["path"], method=scope["method"])}
    await JSONResponse({"error": error}, status_code=status)(scope, receive, send)
