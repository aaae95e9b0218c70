"""BentoML service: POST /predict, video + skeleton in, NTU-60 classes with per-branch confidences out.

Two services, one per stage, each in its own process under ``bentoml serve``:

* ``PCANService`` (the entry point) parses the upload, decodes and preprocesses it in a thread (the event
  loop stays free), and formats the prediction output object. It never loads weights.
* ``PCANModel`` (a dependency) holds the model and runs ``Predictor.infer`` on adaptive batches that
  BentoML assembles from concurrent requests.

Configuration: ``PCAN_*`` environment variables (see ``service_config``); `pcan serve` sets them.
"""

import asyncio
import atexit
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import anyio
import anyio.to_thread
import bentoml
import numpy as np
import torch
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema
from starlette.requests import Request

from ..errors import PCANError, RequestTimeout
from ..model_io import ModelMeta
from ..runtime import Frontend, Predictor, Prepared
from . import allocator, bentoml_compat
from .demo import DemoPage
from .edge import ApiEdge, PredictGate, count, error_response, logger
from .form import PredictRequest, read_predict_form
from .settings import ServiceSettings
from .source import check_at_import, exit_code_after_failure, open_served, stop_server, store_tag

bentoml_compat.apply()
allocator.limit_retention()
SETTINGS = ServiceSettings.from_env()
TIMEOUT_MARGIN_S = 15  # BentoML's own timeouts fire after pcan's, whose answer has the JSON error shape


check_at_import(SETTINGS)  # `bentoml serve` / a container: a model that cannot load ends the server here
atexit.register(exit_code_after_failure)
STORE_TAG = store_tag(SETTINGS)

STAGE_SECONDS = bentoml.metrics.Histogram(
    name="pcan_stage_duration_seconds",
    documentation="POST /predict latency per stage: decode, preprocess, inference (batch share), total (wall)",
    labelnames=["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)


class PredictForm(bentoml.IODescriptor):
    """multipart/form-data of POST /predict. The fields document the API (OpenAPI, BentoML clients); the
    body is parsed by ``read_predict_form`` into ``upload``, never by BentoML's file fields (which would
    also accept a URL as text and fetch it)."""

    media_type: ClassVar[str | None] = "multipart/form-data"

    video: Path = Field(description="The video file (.mp4, .avi, ...).")
    skeleton: Path = Field(description="Its COCO-17 skeleton, JSON (DESIGN.md 'Skeleton input').")
    top_k: int = Field(5, description="Classes listed per branch, 1..number of classes.")
    fusion: Literal["late", "fused"] = Field("late", description="Served prediction: late fusion or fused head.")
    num_clips: int = Field(1, description="Clips sampled and averaged, 1..32.")
    upload: SkipJsonSchema[Any] = None  # the parsed PredictRequest, or the PCANError that rejected it

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> "PredictForm":
        try:
            upload: PredictRequest | PCANError = await read_predict_form(
                request, SETTINGS.max_upload_bytes, SETTINGS.max_skeleton_bytes
            )
        except PCANError as exc:
            upload = exc
        return cls.model_construct(video=None, skeleton=None, upload=upload)


class ModelInput(bentoml.IODescriptor):
    """One request's clips, as ``Predictor.prepare`` made them."""

    imgs: np.ndarray
    heatmaps: np.ndarray


class ModelOutput(bentoml.IODescriptor):
    """Clip-averaged probabilities, one row per branch, or the error that item met."""

    branches: list[str] = []
    probs: np.ndarray = Field(default_factory=lambda: np.zeros((0, 0), np.float32))  # [branches, classes]
    inference_ms: float = 0.0
    error: str | None = None

    @classmethod
    def of(cls, probs: dict[str, np.ndarray], inference_ms: float) -> "ModelOutput":
        return cls(branches=list(probs), probs=np.stack(list(probs.values())), inference_ms=inference_ms)

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.branches, self.probs, strict=True))


@bentoml.service(name="pcan-model", workers=1, traffic={"timeout": SETTINGS.timeout_s + TIMEOUT_MARGIN_S})
class PCANModel:
    """The model, on the GPU when there is one; batches come from BentoML's adaptive batching."""

    if STORE_TAG:
        stored_model = bentoml.models.BentoModel(STORE_TAG)

    def __init__(self) -> None:
        if SETTINGS.torch_threads:
            torch.set_num_threads(SETTINGS.torch_threads)
        stored = self.stored_model if STORE_TAG else None
        try:
            self.predictor, self.source = open_served(SETTINGS, stored)
        except Exception as exc:  # BentoML would restart this worker forever: stop the whole server instead
            stop_server(f"the model process cannot load its model: {exc}")
            raise
        logger.info(
            "serving %s (%s on %s, weights %s)",
            self.source,
            self.predictor.backend.name,
            self.predictor.backend.device,
            self.predictor.meta.weights,
        )

    @bentoml.api
    def describe(self) -> dict[str, Any]:
        """What the API service needs to preprocess for this model and to describe it."""
        backend = self.predictor.backend
        return {
            "meta": self.predictor.meta.to_json(),
            "backend": backend.name,
            "device": backend.device,
            "source": self.source,
        }

    @bentoml.api(batchable=True, max_batch_size=SETTINGS.max_batch_items, max_latency_ms=SETTINGS.max_latency_ms)
    def infer(self, items: list[ModelInput]) -> list[ModelOutput]:
        """One forward pass over every clip of the batch (``Predictor.infer``)."""
        return infer_isolated(self.predictor, [Prepared(str(i), it.imgs, it.heatmaps) for i, it in enumerate(items)])


def infer_isolated(predictor: Predictor, items: list[Prepared]) -> list[ModelOutput]:
    """``predictor.infer_isolated`` as the model service's outputs: only an item that breaks its batch fails."""
    outputs = []
    for item, probs in zip(items, predictor.infer_isolated(items), strict=True):
        if isinstance(probs, Exception):
            logger.error("inference failed", exc_info=probs)
            outputs.append(ModelOutput(error=f"{type(probs).__name__}: {probs}"))
        else:
            outputs.append(ModelOutput.of(probs, item.timing_ms["inference"]))
    return outputs


@bentoml.service(name="pcan", workers=SETTINGS.api_workers, traffic={"timeout": SETTINGS.timeout_s + TIMEOUT_MARGIN_S})
class PCANService:
    """POST /predict; health at /livez and /readyz, Prometheus metrics at /metrics."""

    model = bentoml.depends(PCANModel)

    def __init__(self) -> None:
        self._limiter = anyio.CapacityLimiter(SETTINGS.decode_threads)
        self._frontend: Frontend | None = None
        self._lock = asyncio.Lock()

    async def _engine(self) -> Frontend:
        """Preprocessing and formatting for the served model, built from its description (asked once)."""
        if self._frontend is None:
            async with self._lock:
                if self._frontend is None:
                    info = await self.model.to_async.describe()
                    meta = ModelMeta.from_json(info["meta"], "the model service")
                    self._frontend = Frontend(
                        meta,
                        info["backend"],
                        max_frames=SETTINGS.max_frames,
                        max_pixels=SETTINGS.max_pixels,
                        max_persons=SETTINGS.max_persons,
                        max_skeleton_bytes=SETTINGS.max_skeleton_bytes,
                    )
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
        """Classify one video. 200: the prediction output object; 4xx: ``{"error": {"type", "message"}}``."""
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
        top_k = upload.top_k if upload.top_k is not None else frontend.default_top_k()
        frontend.check_request(top_k=top_k, fusion=upload.fusion, num_clips=upload.num_clips)
        item = await anyio.to_thread.run_sync(self._prepare, frontend, upload, limiter=self._limiter)
        [out] = await self.model.to_async.infer([ModelInput(imgs=item.imgs, heatmaps=item.heatmaps)])
        if out.error is not None:
            raise RuntimeError(out.error)
        item.timing_ms["inference"] = out.inference_ms
        return frontend.format(item, out.as_dict(), top_k=top_k, fusion=upload.fusion), item

    @staticmethod
    def _prepare(frontend: Frontend, upload: PredictRequest) -> Prepared:
        return frontend.prepare(upload.video_path, upload.skeleton, num_clips=upload.num_clips, name=upload.video_name)


PCANService.add_asgi_middleware(DemoPage)  # first: outermost, it owns / and /docs
PCANService.add_asgi_middleware(PredictGate, path="/predict", max_bytes=SETTINGS.max_upload_bytes)
PCANService.add_asgi_middleware(ApiEdge)
