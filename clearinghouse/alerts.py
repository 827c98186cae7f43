"""The operator's alert webhook, as the deposit monitor and the event relay both call it: one
JSON POST, bounded in size (ALERT_WEBHOOK_BODY_BYTES_MAX) and time, that never raises (an alert
that cannot be sent must not stop what raised it) and never logs the URL (it may hold a token).
"""

from __future__ import annotations

import logging
import urllib.request

from clearinghouse.domain.limits import ALERT_WEBHOOK_BODY_BYTES_MAX, ALERT_WEBHOOK_TIMEOUT_S, ANSWER_BYTES_READ_MAX

LOG = logging.getLogger(__name__)

def post_alert(url: str, body: bytes, *, what: str, timeout_s: float = ALERT_WEBHOOK_TIMEOUT_S) -> bool:
    """POST ``body`` (JSON) to ``url``; True when the receiver answered 2xx. ``what`` names the
    alert in the log line written when it was not delivered."""
    if len(body) > ALERT_WEBHOOK_BODY_BYTES_MAX:
        LOG.error("%s of %d bytes over %d; not sent", what, len(body), ALERT_WEBHOOK_BODY_BYTES_MAX)
        return False
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            answer.read(ANSWER_BYTES_READ_MAX)
    except OSError as exc:  # URLError, HTTPError, timeouts: all OSError
        LOG.warning("%s not delivered to the alert webhook: %s", what, type(exc).__name__)
        return False
    return True
