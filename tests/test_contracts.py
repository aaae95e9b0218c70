"""The prediction contract is defined once: the OpenAPI schemas, the CSV columns and the docs' field table are
derived from it, so a field added to it appears in all three with no other edit."""

from pathlib import Path

from pydantic import Field

from pcan_serve.cli.writers import csv_columns, flatten
from pcan_serve.http.openapi import ErrorResponse, contract_schemas
from pcan_serve.runtime import Failure, Prediction, Predictor
from pcan_serve.runtime.schema_docs import field_table, render

FORMATS = Path(__file__).resolve().parents[1] / "docs" / "formats.md"


class Extended(Prediction):
    """A prediction with one field more."""

    novelty: float = Field(0.5, description="A field added to the contract.")


def test_an_added_field_reaches_openapi_csv_and_docs():
    schema = contract_schemas((Extended, ErrorResponse))["Extended"]
    assert schema["properties"]["novelty"]["description"] == "A field added to the contract."
    assert "novelty" in csv_columns(Extended, Failure)
    assert "| `novelty` | float | A field added to the contract. |" in field_table(Extended)
    assert "novelty" not in csv_columns(Prediction, Failure)  # derived, not listed by hand


def test_docs_field_table_is_current():
    text = FORMATS.read_text()
    assert render(text) == text, "run: python -m pcan_serve.runtime.schema_docs docs/formats.md"


def test_a_real_prediction_fills_the_csv_columns(tiny_ckpt, sample_video, sample_skeleton):
    row = Predictor.from_path(tiny_ckpt, device="cpu").predict(sample_video, sample_skeleton, top_k=2)
    cells = flatten(row)
    assert set(cells) <= set(csv_columns(Prediction, Failure))
    assert cells["prediction.name"] == row.prediction.name and cells["model.backend"] == "torch"
    failure = flatten(Failure.of("v.avi", ValueError("boom")))
    assert failure == {"video": "v.avi", "ok": False, "error.type": "ValueError", "error.message": "boom"}


def test_prediction_schema_names_every_field_and_its_nested_objects():
    schemas = contract_schemas()
    assert set(schemas["Prediction"]["required"]) >= {"video", "prediction", "top_k", "branches", "model"}
    assert {"ClassScore", "BranchScores", "ServedModel", "Timing", "ErrorBody", "ErrorResponse"} <= set(schemas)
