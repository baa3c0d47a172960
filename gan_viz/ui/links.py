"""Links that open a view: `?tab=sagan&seed=11&x=20&y=30` opens that tab in that state; each tab shows its own link.

A teacher puts such a link on a slide. Only what a link can carry is linkable: the bundled
examples (by number), seeds, pixels and choices; an uploaded photo is not (the link says so).
"""
from __future__ import annotations

from urllib.parse import urlencode

import gradio as gr

from gan_viz.ui.examples import example_index, example_rows  # noqa: F401 (example_index: for the tabs)

TABS = ("sagan", "inpainting", "gender", "cam", "adversarial", "lab")


def query(request: gr.Request | None) -> dict[str, str]:
    """The page's URL query as a plain dict (empty when there is none, or no request: API calls)."""
    if request is None:
        return {}
    try:
        return {k: str(v) for k, v in request.query_params.items()}
    except AttributeError:
        return {}


def for_tab(request: gr.Request | None, tab: str) -> dict[str, str]:
    """The query when it names this tab, else {} (a link to another tab leaves this one as it is)."""
    q = query(request)
    return q if q.get("tab") == tab else {}


def _number(q: dict, key: str, lo, hi, kind):
    """A number setting from the link, or None when absent, malformed or out of range (a bad link opens the default view)."""
    try:
        v = kind(q[key])
    except (KeyError, ValueError):
        return None
    return v if lo <= v <= hi else None


def int_param(q: dict, key: str, lo: int, hi: int) -> int | None:
    return _number(q, key, lo, hi, int)


def float_param(q: dict, key: str, lo: float, hi: float) -> float | None:
    return _number(q, key, lo, hi, float)


def choice_param(q: dict, key: str, choices) -> str | None:
    v = q.get(key)
    return v if v in choices else None


def example_path(q: dict) -> tuple[str, bool] | None:
    """(path, use the whole image) of the example the link names with `example=N`."""
    rows = example_rows()
    i = int_param(q, "example", 0, len(rows) - 1)
    return (rows[i][0], rows[i][1]) if i is not None else None


def markdown(tab: str, **settings) -> str:
    """'Link to this view' as Markdown, relative to the page (so it works wherever the app is served)."""
    settings = {k: v for k, v in settings.items() if v is not None}
    href = "?" + urlencode({"tab": tab, **settings})
    return f"Link to this view: [`{href}`]({href})"


UPLOAD_NOTE = "Link to this view: an uploaded photo cannot travel in a link; pick an example to get one."
