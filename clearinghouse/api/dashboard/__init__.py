"""The operator dashboard: server-rendered pages under /dashboard behind the operator token.

Modules: ``routes`` (the routes, login, downloads, security headers), ``session`` (signed
session cookies and the failed-login bound), ``views`` (ledger and health values as display
values: exact ETH text, sortable gateway rows, invoice rows), ``charts`` (the deposit chart's
SVG geometry). Templates and the stylesheet ship in the package (no CDN: it works offline).
"""

from __future__ import annotations

from clearinghouse.api.dashboard.routes import DashboardRoutes

__all__ = ["DashboardRoutes"]
