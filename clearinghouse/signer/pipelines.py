"""Which AI pipeline a signing call paid for: the line an invoice puts it on (spec 05).

go-livepeer labels a remote-signer call's usage the same way: an "lv2v" call is
live-video-to-video; otherwise the one capability the request's Capabilities name decides, by
go-livepeer's Capability numbering (core/capabilities.go). An unknown number is kept as
"capability-<n>" rather than dropped, so an invoice line still separates it.
"""

from __future__ import annotations

LIVE_VIDEO_TO_VIDEO = "live-video-to-video"

PIPELINE_OF_CAPABILITY = {
    27: "text-to-image",
    28: "image-to-image",
    29: "image-to-video",
    30: "upscale",
    31: "audio-to-text",
    32: "segment-anything-2",
    33: "llm",
    34: "image-to-text",
    35: LIVE_VIDEO_TO_VIDEO,
    36: "text-to-speech",
}
"""go-livepeer's AI capability ids and the pipeline names its gateways and runners use."""


def pipeline_of(billing_type: str, capability_id: str | None) -> str | None:
    """The pipeline name of a call: from its billing type, else its single capability id."""
    if billing_type == "lv2v":
        return LIVE_VIDEO_TO_VIDEO
    if capability_id is None or not capability_id.isdigit():
        return None
    number = int(capability_id)
    return PIPELINE_OF_CAPABILITY.get(number, f"capability-{number}")
