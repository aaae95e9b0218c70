"""BentoML service: POST /predict, video + skeleton in, NTU-60 classes with per-branch confidences out.

Two services, one per stage, each in its own process under ``bentoml serve``:

* ``PCANService`` (the entry point) parses the upload, estimates its cost from the headers and admits it or refuses
  it at once (``admission``), decodes and preprocesses it in a thread (the event loop stays free), sends its clips
  to the model a chunk at a time (``dispatch``), and formats the prediction object. It never loads weights.
* ``PCANModel`` (a dependency) holds the model and runs chunks of every request's clips in greedy batches
  (``batcher``): requests take turns clip by clip.

Every request has one deadline, PCAN_TIMEOUT_S from its arrival (``deadline``), over upload, decoding and inference;
work for a request past it, or whose client has gone, is dropped before it reaches the model. Importing this module
only reads the settings that BentoML's decorators declare (workers, timeouts) and which stored model a Bento
carries; the work of starting (checking the model, patching BentoML's client, tuning the allocator) runs in the
deployment and start-up hooks.
"""

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import anyio
import bentoml
import psutil
from pydantic import Field, create_model
from pydantic.json_schema import SkipJsonSchema
from starlette.requests import Request

from ..errors import PCANError
from ..model_io import ModelMeta
from ..runtime import Frontend, PredictOptions, Prepared
from . import allocator, bentoml_compat, priority
from .admission import Admission, Rates
from .batcher import Batcher
from .deadline import Wanted, arrival
from .demo import DemoPage
from .edge import ApiEdge, PredictGate, count, error_response, logger
from .flow import RequestFlow
from .form import PredictRequest, read_predict_form
from .settings import load_settings
from .source import CHECKED_ENV, check_served, clip_seconds, open_served, store_tag
from .watch import ModelWatch
from .wire import ModelInput, ModelOutput

SETTINGS = load_settings()
STORE_TAG = store_tag(SETTINGS)
RELOAD_WAIT_S = 5  # between attempts of a model worker whose model stopped loading after the start-up check
TIMEOUT_MARGIN_S = 15  # BentoML's own timeouts fire after pcan's, whose answer has the JSON error shape
TRAFFIC = {"timeout": SETTINGS.timeout_s + TIMEOUT_MARGIN_S}
# This API process's admitted work; the request gate (middleware) and the service share it.
ADMISSION = Admission(
    SETTINGS.latency_budget_s, SETTINGS.decode_threads, SETTINGS.api_workers, SETTINGS.clips_per_forward, Rates(1.0)
)

STAGE_SECONDS = bentoml.metrics.Histogram(
    name="pcan_stage_duration_seconds",
    documentation="POST /predict latency per stage: decode, preprocess, inference (batch share), total (wall)",
    labelnames=["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)


class _Upload(bentoml.IODescriptor):
    """multipart/form-data of POST /predict. The fields document the API (OpenAPI); the body is parsed by
    ``read_predict_form`` into ``upload``, never by BentoML's file fields (which would also fetch a URL given
    as text)."""

    media_type: ClassVar[str | None] = "multipart/form-data"

    video: Path = Field(description="The video file (.mp4, .avi, ...).")
    skeleton: Path | None = Field(
        None, description="Its COCO-17 skeleton, JSON or .npz (docs/formats.md); without it the server estimates one."
    )
    upload: SkipJsonSchema[Any] = None  # the parsed PredictRequest, or the PCANError that rejected it

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> "_Upload":
        wanted = Wanted(arrival(request.scope), SETTINGS.timeout_s, request.is_disconnected)
        try:
            upload: PredictRequest | PCANError = await read_predict_form(
                request, SETTINGS.max_upload_bytes, SETTINGS.limits.max_skeleton_bytes, wanted
            )
        except PCANError as exc:
            upload = exc
        return cls.model_construct(video=None, skeleton=None, upload=upload)


# The form's optional fields are the request contract's, so the OpenAPI form lists what the parser accepts.
PredictForm = create_model(
    "PredictForm",
    __base__=_Upload,
    **{name: (field.annotation, field) for name, field in PredictOptions.model_fields.items()},
)


@bentoml.service(name="pcan-model", workers=1, traffic=TRAFFIC)
class PCANModel:
    """The model, on the GPU when there is one; chunks of clips from every request, batched by ``Batcher``."""

    if STORE_TAG:
        stored_model = bentoml.models.BentoModel(STORE_TAG)

    @bentoml.on_deployment
    def check_model() -> None:
        """Once, before any worker starts: a model that cannot be served stops the server here, with its reason
        (`pcan serve` has done it already and says so)."""
        if os.environ.get(CHECKED_ENV) == "1":
            return
        try:
            logger.info("pcan: model ok: %s", check_served(SETTINGS))
        except PCANError as exc:
            print(f"pcan: cannot serve the model: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None

    def __init__(self) -> None:
        if SETTINGS.torch_threads:
            import torch

            torch.set_num_threads(SETTINGS.torch_threads)
        try:
            self.predictor, self.source = open_served(SETTINGS, self.stored_model if STORE_TAG else None)
        except PCANError as exc:  # it passed the start-up check and broke since: BentoML restarts this worker
            logger.error("pcan: the model process cannot load its model: %s; retrying in %d s", exc, RELOAD_WAIT_S)
            time.sleep(RELOAD_WAIT_S)  # a slow retry, not a tight loop; meanwhile requests get 503, /readyz not ready
            raise
        self.clip_s = clip_seconds(self.predictor)  # before lowering the priority: the rate of a CPU of its own
        priority.lower_process()
        self.batcher = Batcher(self.predictor.infer_isolated, SETTINGS.clips_per_forward, SETTINGS.requests_per_batch)
        backend = self.predictor.backend
        logger.info(
            "serving %s (%s on %s, %s; %.3f s a clip)",
            self.source,
            backend.name,
            backend.device,
            self.predictor.meta.weights,
            self.clip_s,
        )

    @bentoml.api
    def describe(self) -> dict[str, Any]:
        """What the API service needs to preprocess for this model, to describe it, to watch this process (pid, start
        time, host) and to start counting its rate."""
        backend = self.predictor.backend
        return {
            "description": self.predictor.meta.to_json(),
            "backend": backend.name,
            "device": backend.device,
            "source": self.source,
            "pid": os.getpid(),
            "started": psutil.Process().create_time(),
            "host": socket.gethostname(),
            "clip_s": self.clip_s,
        }

    @bentoml.api
    async def infer(self, chunk: ModelInput) -> ModelOutput:
        """One chunk of one request's clips, answered once its turn in a batch has come (or dropped unrun)."""
        return await self.batcher.submit(chunk)


@bentoml.service(name="pcan", workers=SETTINGS.api_workers, traffic=TRAFFIC)
class PCANService:
    """POST /predict; health at /livez and /readyz, Prometheus metrics at /metrics."""

    model = bentoml.depends(PCANModel)

    def __init__(self) -> None:
        self._frontend: Frontend | None = None
        self.watch = ModelWatch(lambda: self.model.to_async.describe(), self._model_up)
        self.flow = RequestFlow(ADMISSION, self._infer)

    @bentoml.on_startup
    def tune_process(self) -> None:
        """This API process's start: BentoML's client session fix (``bentoml_compat``) and the allocator's
        retention limits (``allocator``), both process-wide."""
        bentoml_compat.apply()
        allocator.limit_retention()

    @bentoml.on_startup
    async def watch_model(self) -> None:
        """Watch the model worker from the start: /readyz and every request know at once whether it is up."""
        self.watch.start()

    def _engine(self) -> Frontend:
        """Preprocessing and formatting for the served model, built from its description; 503 while it is down."""
        info = self.watch.require()
        if self._frontend is None:
            meta = ModelMeta.from_json(info["description"], "the model service")
            self._frontend = Frontend(meta, info["backend"], SETTINGS.limits, pose_model=SETTINGS.pose_model)
        return self._frontend

    @staticmethod
    def _model_up(info: dict[str, Any]) -> None:
        """A model worker is up: admission counts with the rate it measured until its answers tell more."""
        ADMISSION.rates.observe_clip(float(info["clip_s"]), weight=1.0)

    async def __is_ready__(self) -> bool:
        self.watch.start()
        return self.watch.alive()

    @bentoml.api(route="/predict", input_spec=PredictForm)
    async def predict(self, upload: PredictRequest | PCANError, **documented: Any) -> dict[str, Any]:
        """Classify one video. 200: the prediction object; otherwise ``{"error": {"type", "message"}}``."""
        start = time.perf_counter()
        if isinstance(upload, PCANError):
            return error_response(upload)  # type: ignore[return-value]
        with upload:
            try:
                with anyio.fail_after(upload.wanted.left_s()):
                    result, item = await self._predict(upload)
            except TimeoutError:
                return error_response(upload.wanted.expired())  # type: ignore[return-value]
            except Exception as exc:
                return error_response(exc)  # type: ignore[return-value]
        count("ok")
        for stage in ("decode", "preprocess", "inference"):
            STAGE_SECONDS.labels(stage=stage).observe(item.timing_ms.get(stage, 0.0) / 1000)
        STAGE_SECONDS.labels(stage="total").observe(time.perf_counter() - start)
        return result

    async def _predict(self, upload: PredictRequest) -> tuple[dict[str, Any], Prepared]:
        return await self.flow.run(self._engine(), upload)

    async def _infer(self, chunk: ModelInput) -> ModelOutput:
        return await self.watch.call(self.model.to_async.infer, chunk=chunk)


PCANService.add_asgi_middleware(DemoPage)  # first: outermost, it owns / and /docs
PCANService.add_asgi_middleware(
    PredictGate,
    path="/predict",
    max_bytes=SETTINGS.max_upload_bytes,
    max_queue=SETTINGS.max_queue,
    admission=ADMISSION,
)
PCANService.add_asgi_middleware(ApiEdge)
