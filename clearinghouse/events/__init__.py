"""Events: every signing and every (sampled) refusal published as a CloudEvent, never dropped.

The ledger writes the events' rows in a transactional outbox (ledger/outbox.py): a signing
call's row in its batch's transaction. This package turns rows into CloudEvents 1.0
(``cloudevents``), samples refusals so a flood cannot grow the outbox without bound
(``refusals``), publishes them to NATS JetStream and to CloudEvents-over-HTTP receivers
(``nats_sink``, ``http_sink``), each sink from its own cursor, in order, with retries and
backoff, and prunes what every sink sent (``relay``). ``settings`` holds [events].
"""
