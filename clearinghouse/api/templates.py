"""Route templates with ``{parameters}`` (the Builder API's ``/api/v1/apps/{clientId}/users``):
the raw ASGI app routes its fixed paths by dict lookup and tries these only when none matched."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from clearinghouse.api.bodies import Scope

PATH_PARAMS_SCOPE_KEY: Final = "clearinghouse.path_params"
_PARAM = re.compile(r"\{(\w+)\}")


def compile_template(template: str) -> re.Pattern[str]:
    """A template's pattern: each ``{name}`` is one non-empty path segment. Templates hold only
    letters, digits, ``/``, ``_``, ``-`` and ``.`` besides their parameters."""
    if not re.fullmatch(r"[\w/.{}-]+", template):
        raise ValueError(f"route template {template!r} holds characters a pattern would misread")
    return re.compile("^" + _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", template.replace(".", r"\.")) + "$")


def match(patterns: Mapping[str, re.Pattern[str]], scope: Scope) -> str | None:
    """The template the path matches, its parameters put in the scope; else None. The ASGI
    server has percent-decoded the path already."""
    for template, pattern in patterns.items():
        found = pattern.match(scope["path"])
        if found is not None:
            scope[PATH_PARAMS_SCOPE_KEY] = found.groupdict()
            return template
    return None


def template_params(scope: Scope) -> dict[str, str]:
    """The parameters ``match`` found (empty when no template matched)."""
    params: dict[str, str] = scope.get(PATH_PARAMS_SCOPE_KEY, {})
    return params
