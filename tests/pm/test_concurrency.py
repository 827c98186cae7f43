"""Batches signed on several threads at once (the GIL released) give exactly the serial result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from clearinghouse.pm import _native as native

KEY = b"\x11" * 32


def batch(first_nonce: int) -> list[tuple[bytes, bytes]]:
    result: list[tuple[bytes, bytes]] = native.sign_ticket_batch(
        KEY,
        b"\x01" * 20,
        b"\x02" * 20,
        10**15,
        2**250,
        b"\x03" * 32,
        9,
        b"\x04" * 32,
        first_nonce,
        50,
    )
    return result


def test_parallel_batches_equal_serial_batches() -> None:
    starts = list(range(1, 20 * 50, 50))
    serial = [batch(start) for start in starts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(batch, starts))
    assert parallel == serial
    digests = [digest for result in parallel for digest, _ in result]
    assert len(set(digests)) == len(digests) == 20 * 50
