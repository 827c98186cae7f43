"""The one alert webhook POST the deposit monitor and the event relay share (issue #20)."""

from __future__ import annotations

import json
import logging

import pytest

from clearinghouse.alerts import post_alert
from clearinghouse.domain.limits import ALERT_WEBHOOK_BODY_BYTES_MAX
from tests.events.receiver import Receiver, receiver  # noqa: F401  (the fixture)


def test_an_alert_reaches_the_webhook_as_json(receiver: Receiver) -> None:  # noqa: F811
    assert post_alert(receiver.url, json.dumps({"kind": "billing", "message": "held"}).encode(), what="billing alert")
    assert receiver.posts == [("application/json", {"kind": "billing", "message": "held"})]


def test_a_failing_receiver_is_logged_without_its_url(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    receiver.fail_next = 1
    url = receiver.url + "?token=s3cret-alert-token"
    with caplog.at_level(logging.WARNING, logger="clearinghouse.alerts"):
        assert not post_alert(url, b"{}", what="deposit health alert")
    assert receiver.statuses == [500]
    assert "deposit health alert not delivered to the alert webhook: HTTPError" in caplog.text
    assert "s3cret-alert-token" not in caplog.text


def test_an_alert_over_the_body_cap_is_not_sent(receiver: Receiver) -> None:  # noqa: F811
    body = json.dumps({"message": "x" * ALERT_WEBHOOK_BODY_BYTES_MAX}).encode()
    assert not post_alert(receiver.url, body, what="event outbox alert")
    assert receiver.posts == []


def test_an_unreachable_webhook_does_not_raise() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    assert not post_alert("http://127.0.0.1:9/alerts", b"{}", what="deposit health alert", timeout_s=2.0)
