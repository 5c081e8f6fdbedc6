"""Self-contained HTML reports rendered from jinja2 templates, every value escaped.

A report's template lives beside the module that renders it (`<package>/templates/`) and
extends `page.html.j2` here, which holds the page skeleton. Pages carry their CSS inline and
their images as data URIs: they are read offline, as MLflow artifacts or copied files.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _environment(package: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(package), jinja2.PackageLoader("karpa")]),
        autoescape=True,  # every template here is HTML
        undefined=jinja2.StrictUndefined,  # a misspelt name fails loudly, not as a blank cell
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(package: str, template: str, **context: Any) -> str:
    """Render `<package>/templates/<template>` with `context`; values are HTML-escaped."""
    return _environment(package).get_template(template).render(**context)
