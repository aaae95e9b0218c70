"""The model description every exported artefact carries, so serving needs nothing but the file.

ONNX: one ``metadata_props`` entry ``pcan`` holding this JSON. TensorRT: the same JSON in a sidecar
``<engine>.json`` (an engine has no metadata field).
"""

import json
from dataclasses import dataclass
from typing import Any

from ..model import PCANConfig

METADATA_KEY = "pcan"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelMeta:
    config: PCANConfig
    fused_head: bool
    weights: str = "trained"
    fusion_weights: tuple[float, float] = (1.0, 1.0)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "config": self.config.to_dict(),
                "fused_head": self.fused_head,
                "weights": self.weights,
                "fusion_weights": list(self.fusion_weights),
                "outputs": "probabilities",
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "ModelMeta":
        data: dict[str, Any] = json.loads(text)
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported pcan metadata version {data.get('format_version')!r}")
        return cls(
            config=PCANConfig.from_dict(data["config"]),
            fused_head=bool(data["fused_head"]),
            weights=str(data.get("weights", "trained")),
            fusion_weights=tuple(float(w) for w in data.get("fusion_weights", (1.0, 1.0))),
        )
