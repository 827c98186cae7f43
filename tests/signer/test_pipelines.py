"""The pipeline a call is billed under: lv2v by its type, others by go-livepeer's capability id."""

from __future__ import annotations

import pytest

from clearinghouse.signer.pipelines import pipeline_of


@pytest.mark.parametrize(
    ("billing_type", "capability", "pipeline"),
    [
        ("lv2v", None, "live-video-to-video"),
        ("lv2v", "27", "live-video-to-video"),
        ("live", "35", "live-video-to-video"),
        ("fixed", "27", "text-to-image"),
        ("", "33", "llm"),
        ("fixed", "99", "capability-99"),
        ("fixed", None, None),
        ("fixed", "x", None),
    ],
)
def test_pipeline_of(billing_type: str, capability: str | None, pipeline: str | None) -> None:
    assert pipeline_of(billing_type, capability) == pipeline
