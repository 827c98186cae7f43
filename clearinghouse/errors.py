"""The exceptions clearinghouse raises, in one tree.

    ClearinghouseError
    ├── NativeCoreUnavailable   the Cython ticket core could not be loaded where it is required
    └── InvariantViolation      something that cannot happen did; stop rather than limp on

Bad arguments to the ticket core are plain ``ValueError`` (wrong length, out-of-range integer,
invalid key) or ``TypeError`` (wrong type), raised before anything is signed.
"""

from __future__ import annotations


class ClearinghouseError(Exception):
    """Base class of every error clearinghouse raises on purpose."""


class NativeCoreUnavailable(ClearinghouseError):
    """The native ticket core failed to import and the caller may not run without it."""


class InvariantViolation(ClearinghouseError):
    """A condition the code relies on was false; continuing could sign or record wrong data."""
