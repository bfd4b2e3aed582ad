"""The one Jinja environment for every template (HTML report, PDF front matter, PDF sections).

Built in a function, never at import time. Autoescaping is on for every template
name, every shown text goes through ``units.visible``, and the filters are
registered here and nowhere else.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import TYPE_CHECKING

from archreport import units

if TYPE_CHECKING:
    import jinja2


def template_text(name: str) -> str:
    """A file of the templates package (a template, a stylesheet, the viewer script)."""
    return importlib.resources.files("archreport.render.templates").joinpath(name).read_text(encoding="utf-8")


def _shown(value: object) -> object:
    """A template's ``{{ value }}``: text through ``units.visible``, markup and numbers as they are."""
    # Markup is a str subclass: escaped markup, left alone. Printable ASCII, most of what a report
    # shows, has nothing to escape: tested first, a large model's table renders 20 % faster.
    if type(value) is str and not (value.isascii() and value.isprintable()):
        return units.visible(value)
    return value


@functools.cache
def jinja_environment() -> jinja2.Environment:
    """The one Jinja environment: autoescaping on for every template, filters registered here.

    One per process, never changed once made: a template compiled once (ahead of time, while
    the workers build; pipeline) serves every later render.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(template_text),
        autoescape=True,
        # Every text a template shows (names, titles, messages) with hidden and bidirectional
        # controls made visible; markup the code made (a diagram's SVG) is left as it is.
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        si=units.si, flops=units.flops, nbytes=units.nbytes, count=units.count, share=units.share,
        expected=units.expected,
        percent=lambda v: f"{v:.1f} %", shapes=lambda v: ", ".join(v) if v else "—",
    )  # fmt: skip
    env.globals["asset"] = template_text
    return env
