"""BentoML service: POST /predict, video + skeleton in, NTU-60 classes with per-branch confidences out.

Two services, one per stage, each in its own process under ``bentoml serve``:

* ``PCANService`` (the entry point) parses the upload, decodes and preprocesses it in a thread (the event
  loop stays free), and formats the prediction object. It never loads weights.
* ``PCANModel`` (a dependency) holds the model and runs ``Predictor.infer`` on adaptive batches that
  BentoML assembles from concurrent requests.

Importing this module only reads the settings that BentoML's decorators declare (workers, batching, timeouts)
and which stored model a Bento carries; the work of starting (checking the model, patching BentoML's client,
tuning the allocator) runs in the deployment and start-up hooks.
"""

import asyncio
import os
import time
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.to_thread
import bentoml
import numpy as np
from pydantic import Field, create_model
from pydantic.json_schema import SkipJsonSchema
from starlette.requests import Request

from ..errors import PCANError
from ..model_io import ModelMeta
from ..runtime import Frontend, PredictOptions, Prepared
from ..runtime.timeline import assemble_timeline, open_request_windows
from . import allocator, bentoml_compat
from .demo import DemoPage
from .edge import ApiEdge, PredictGate, count, error_response, logger
from .errors import RequestTimeout
from .form import PredictRequest, read_predict_form
from .settings import load_settings
from .source import CHECKED_ENV, check_served, open_served, store_tag

SETTINGS = load_settings()
STORE_TAG = store_tag(SETTINGS)
TIMEOUT_MARGIN_S = 15  # BentoML's own timeouts fire after pcan's, whose answer has the JSON error shape
TRAFFIC = {"timeout": SETTINGS.timeout_s + TIMEOUT_MARGIN_S}

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
        try:
            upload: PredictRequest | PCANError = await read_predict_form(
                request, SETTINGS.max_upload_bytes, SETTINGS.limits.max_skeleton_bytes
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


class ModelInput(bentoml.IODescriptor):
    """One request's clips, as ``Frontend.prepare`` made them."""

    imgs: np.ndarray
    heatmaps: np.ndarray


class ModelOutput(bentoml.IODescriptor):
    """Clip-averaged probabilities, one row per branch, or the error that item met."""

    branches: list[str] = []
    probs: np.ndarray = Field(default_factory=lambda: np.zeros((0, 0), np.float32))  # [branches, classes]
    inference_ms: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.branches, self.probs, strict=True))


@bentoml.service(name="pcan-model", workers=1, traffic=TRAFFIC)
class PCANModel:
    """The model, on the GPU when there is one; batches come from BentoML's adaptive batching."""

    if STORE_TAG:
        stored_model = bentoml.models.BentoModel(STORE_TAG)

    @bentoml.on_deployment
    def check_model() -> None:
        """Once, before any worker starts: a model that cannot be served stops the server here, with its reason
        (`pcan serve` has done it already and says so)."""
        if os.environ.get(CHECKED_ENV) != "1":
            logger.info("pcan: model ok: %s", check_served(SETTINGS))

    def __init__(self) -> None:
        if SETTINGS.torch_threads:
            import torch

            torch.set_num_threads(SETTINGS.torch_threads)
        self.predictor, self.source = open_served(SETTINGS, self.stored_model if STORE_TAG else None)
        backend = self.predictor.backend
        logger.info("serving %s (%s on %s, %s)", self.source, backend.name, backend.device, self.predictor.meta.weights)

    @bentoml.api
    def describe(self) -> dict[str, Any]:
        """What the API service needs to preprocess for this model and to describe it."""
        backend = self.predictor.backend
        return {"description": self.predictor.meta.to_json(), "backend": backend.name, "device": backend.device}

    @bentoml.api(batchable=True, max_batch_size=SETTINGS.requests_per_batch, max_latency_ms=SETTINGS.max_latency_ms)
    def infer(self, items: list[ModelInput]) -> list[ModelOutput]:
        """One forward pass over every clip of the batch; only an item that breaks its batch fails."""
        prepared = [Prepared(str(i), it.imgs, it.heatmaps) for i, it in enumerate(items)]
        outputs = []
        for item, probs in zip(prepared, self.predictor.infer_isolated(prepared), strict=True):
            if isinstance(probs, Exception):
                logger.error("inference failed", exc_info=probs)
                outputs.append(ModelOutput(error=f"{type(probs).__name__}: {probs}"))
            else:
                stacked = np.stack(list(probs.values()))
                outputs.append(
                    ModelOutput(branches=list(probs), probs=stacked, inference_ms=item.timing_ms["inference"])
                )
        return outputs


@bentoml.service(name="pcan", workers=SETTINGS.api_workers, traffic=TRAFFIC)
class PCANService:
    """POST /predict; health at /livez and /readyz, Prometheus metrics at /metrics."""

    model = bentoml.depends(PCANModel)

    def __init__(self) -> None:
        self._limiter = anyio.CapacityLimiter(SETTINGS.decode_threads)
        self._frontend: Frontend | None = None
        self._lock = asyncio.Lock()

    @bentoml.on_startup
    def tune_process(self) -> None:
        """This API process's start: BentoML's client session fix (``bentoml_compat``) and the allocator's
        retention limits (``allocator``), both process-wide."""
        bentoml_compat.apply()
        allocator.limit_retention()

    async def _engine(self) -> Frontend:
        """Preprocessing and formatting for the served model, built from its description (asked once)."""
        if self._frontend is None:
            async with self._lock:
                if self._frontend is None:
                    info = await self.model.to_async.describe()
                    meta = ModelMeta.from_json(info["description"], "the model service")
                    self._frontend = Frontend(meta, info["backend"], SETTINGS.limits, pose_model=SETTINGS.pose_model)
        return self._frontend

    async def __is_ready__(self) -> bool:
        try:
            await self._engine()
        except Exception as exc:  # the model service is still loading (or failed to)
            logger.debug("not ready: %s", exc)
            return False
        return True

    @bentoml.api(route="/predict", input_spec=PredictForm)
    async def predict(self, upload: PredictRequest | PCANError, **documented: Any) -> dict[str, Any]:
        """Classify one video. 200: the prediction object; otherwise ``{"error": {"type", "message"}}``."""
        start = time.perf_counter()
        if isinstance(upload, PCANError):
            return error_response(upload)  # type: ignore[return-value]
        with upload:
            try:
                with anyio.fail_after(SETTINGS.timeout_s):
                    result, item = await self._predict(upload)
            except TimeoutError:
                timeout = RequestTimeout(f"the request did not finish within {SETTINGS.timeout_s} s (PCAN_TIMEOUT_S)")
                return error_response(timeout)  # type: ignore[return-value]
            except Exception as exc:
                return error_response(exc)  # type: ignore[return-value]
        count("ok")
        for stage in ("decode", "preprocess", "inference"):
            STAGE_SECONDS.labels(stage=stage).observe(item.timing_ms.get(stage, 0.0) / 1000)
        STAGE_SECONDS.labels(stage="total").observe(time.perf_counter() - start)
        return result

    async def _predict(self, upload: PredictRequest) -> tuple[dict[str, Any], Prepared]:
        frontend = await self._engine()
        options = frontend.check(upload.options)
        if options.window is not None:
            return await self._predict_timeline(frontend, upload, options)
        item = await anyio.to_thread.run_sync(self._prepare, frontend, upload, options, limiter=self._limiter)
        out = await self._infer(item.imgs, item.heatmaps)
        item.timing_ms["inference"] = out.inference_ms
        prediction = frontend.format(item, out.as_dict(), top_k=options.top_k, fusion=options.fusion)
        return prediction.to_dict(), item

    async def _infer(self, imgs: np.ndarray, heatmaps: np.ndarray) -> ModelOutput:
        [out] = await self.model.to_async.infer([ModelInput(imgs=imgs, heatmaps=heatmaps)])
        if out.error is not None:
            raise RuntimeError(out.error)
        return out

    async def _predict_timeline(
        self, frontend: Frontend, upload: PredictRequest, options: PredictOptions
    ) -> tuple[dict[str, Any], Prepared]:
        """The windows of one decode pass, each sent to the model as the decoder completes it (memory: one span's
        inputs at a time), then the prediction with its timeline."""
        run = partial(open_request_windows, frontend, upload.video_path, upload.skeleton, options)
        windowed = await anyio.to_thread.run_sync(run, limiter=self._limiter)
        answers, inference_ms = {}, 0.0
        with windowed:
            spans = windowed.inputs()
            while (done := await anyio.to_thread.run_sync(next, spans, None, limiter=self._limiter)) is not None:
                span, inputs = done
                out = await self._infer(inputs["imgs"], inputs["heatmaps"])
                answers[span], inference_ms = out.as_dict(), inference_ms + out.inference_ms
        prediction = assemble_timeline(frontend, windowed, answers, upload.video_name, inference_ms, options)
        timing = prediction.timing_ms.model_dump()
        return prediction.to_dict(), Prepared(upload.video_name, np.empty(0), np.empty(0), timing)

    @staticmethod
    def _prepare(frontend: Frontend, upload: PredictRequest, options: PredictOptions) -> Prepared:
        return frontend.prepare(upload.video_path, upload.skeleton, num_clips=options.num_clips, name=upload.video_name)


PCANService.add_asgi_middleware(DemoPage)  # first: outermost, it owns / and /docs
PCANService.add_asgi_middleware(PredictGate, path="/predict", max_bytes=SETTINGS.max_upload_bytes)
PCANService.add_asgi_middleware(ApiEdge)
