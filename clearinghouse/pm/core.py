"""Chooses the ticket core this process uses: the native extension or the pure-Python reference.

``CLEARINGHOUSE_NO_EXTENSIONS=1`` forces the reference (tests run both). Otherwise the native
extension is used; if it fails to import, the reference stands in so that libraries and tools
keep working, ``NATIVE_IMPORT_ERROR`` says why, and ``require_native()`` lets the money path
(the daemon) refuse to run on the slow path instead of falling back silently.
"""

from __future__ import annotations

import os
from types import ModuleType

from clearinghouse.errors import NativeCoreUnavailable

NO_EXTENSIONS_ENV = "CLEARINGHOUSE_NO_EXTENSIONS"
NO_EXTENSIONS = os.environ.get(NO_EXTENSIONS_ENV, "") not in ("", "0")

NATIVE_IMPORT_ERROR: str | None = None
implementation: ModuleType
if NO_EXTENSIONS:
    from clearinghouse.pm import reference as implementation
else:
    try:
        from clearinghouse.pm import _native as implementation
    except ImportError as exc:
        NATIVE_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
        from clearinghouse.pm import reference as implementation

IMPLEMENTATION: str = implementation.IMPLEMENTATION


def require_native() -> None:
    """Raises NativeCoreUnavailable if the native core failed to import.

    Forcing the reference with CLEARINGHOUSE_NO_EXTENSIONS=1 is an explicit choice and passes.
    """
    if NATIVE_IMPORT_ERROR is not None:
        raise NativeCoreUnavailable(
            f"the native ticket core failed to import ({NATIVE_IMPORT_ERROR}); reinstall with "
            f"`pip install .`, or set {NO_EXTENSIONS_ENV}=1 to run the slow reference on purpose"
        )
