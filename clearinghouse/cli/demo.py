"""``clearinghouse demo``: sign and verify a batch of tickets with a throwaway key."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from fractions import Fraction

import click
from eth_account import Account

from clearinghouse import pm
from clearinghouse.cli.limits import DEMO_TICKETS_MAX
from clearinghouse.cli.options import emit, json_option, translated
from clearinghouse.domain.ev import ticket_ev
from clearinghouse.domain.limits import TICKETS_PER_BATCH_MAX
from clearinghouse.errors import ClearinghouseError


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What a demo run signed and how fast."""

    implementation: str
    sender: bytes
    tickets: int
    seconds: float
    ev_signed_wei: Fraction


def run_demo(tickets: int, batch: int) -> DemoResult:
    """Signs ``tickets`` demo tickets with a throwaway key, verifying every one.

    Raises ClearinghouseError if any ticket fails verification (it never should).
    """
    key = bytes(Account.create().key)
    sender = pm.private_key_to_address(key)
    recipient, rand_hash, block_hash = secrets.token_bytes(20), secrets.token_bytes(32), secrets.token_bytes(32)
    face_value, win_prob, creation_round = 10**15, ((1 << 256) - 1) // 100, 3500
    signed: list[tuple[bytes, bytes]] = []
    start = time.perf_counter()
    for first in range(1, tickets + 1, batch):
        count = min(batch, tickets + 1 - first)
        signed += pm.sign_ticket_batch(
            key, recipient, sender, face_value, win_prob, rand_hash, creation_round, block_hash,
            first, count,
        )
    seconds = time.perf_counter() - start
    for nonce, (digest, signature) in enumerate(signed, start=1):
        expected = pm.ticket_hash(
            recipient, sender, face_value, win_prob, nonce, rand_hash, creation_round, block_hash
        )
        if digest != expected or not pm.verify_personal_signature(digest, signature, sender):
            raise ClearinghouseError(f"demo ticket with nonce {nonce} failed verification")
    return DemoResult(pm.IMPLEMENTATION, sender, tickets, seconds,
                      ticket_ev(face_value, win_prob) * tickets)


@click.command()
@click.option("--tickets", type=click.IntRange(1, DEMO_TICKETS_MAX), default=20_000,
              show_default=True, help="How many tickets to sign.")
@click.option("--batch", type=click.IntRange(1, TICKETS_PER_BATCH_MAX), default=100,
              show_default=True, help="Tickets per sign_ticket_batch call.")
@json_option
def demo(tickets: int, batch: int, as_json: bool) -> None:
    """Sign and verify demo tickets with a throwaway key; print the rate.

    \b
    Examples:
      clearinghouse demo
      clearinghouse demo --tickets 100000 --batch 10
      CLEARINGHOUSE_NO_EXTENSIONS=1 clearinghouse demo --tickets 500 --json
    """
    with translated():
        pm.require_native()
        result = run_demo(tickets, batch)
    ev = result.ev_signed_wei
    rate = result.tickets / result.seconds
    emit(as_json, {"implementation": result.implementation, "sender": "0x" + result.sender.hex(),
                   "tickets": result.tickets, "batch": batch, "seconds": result.seconds,
                   "tickets_per_s": rate, "ev_signed_wei": str(ev)},
         [f"ticket core:    {result.implementation}",
          f"sender:         0x{result.sender.hex()} (throwaway key)",
          f"tickets signed: {result.tickets} in batches of {batch}, every one verified",
          f"rate:           {rate:,.0f} tickets/s on one thread",
          f"EV signed:      {ev.numerator // ev.denominator} wei (floor of the exact rational)"])
