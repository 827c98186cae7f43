"""Data files the tests read, kept in the repository so a fresh clone tests on its own.

``spec_vectors.json`` is a byte-for-byte copy of the project specification's ``vectors.json``
(the test vectors of spec 01, ticket bytes and signatures, and spec 02, the remote-signer
protocol), copied 2026-12-07, SHA-256
af2474f1aaf6ff60b637bcab37fff44586904cc63c59fda73adfeb66c98bf5b7. The specification gathered
them from go-livepeer and the TicketBroker contract and re-checked them independently. When the
specification's copy changes, copy it again and update the hash here.
"""

from __future__ import annotations

from pathlib import Path

SPEC_VECTORS = Path(__file__).with_name("spec_vectors.json")
"""The spec's test vectors (see the module docstring for provenance)."""
