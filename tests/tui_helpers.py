"""Helpers shared by the viewer's pilot tests (Textual's ``App.run_test()``)."""

from __future__ import annotations

import asyncio
import functools
import time


def run_async(fn):
    """Run an ``async def`` test with asyncio (no pytest async plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper


async def loaded(app, pilot, timeout: float = 30.0) -> None:
    """Wait until the background loader has read the whole capture and the UI has caught up."""
    end = time.monotonic() + timeout
    while not (app.progress is not None and app.progress.done) and app.error is None:
        assert time.monotonic() < end, "capture did not load"
        await pilot.pause(0.02)
    await pilot.pause()


def screen_text(widget) -> list[str]:
    """The plain text of every line a Line API widget shows."""
    return [widget.render_line(y).text for y in range(widget.scrollable_content_region.height)]
