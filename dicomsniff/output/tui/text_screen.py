"""A modal panel of read-only text: presentation contexts (``c``), findings (``f``), help (``?``)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class TextScreen(ModalScreen):
    """Shows one Rich Text (literal, never markup) until escape, q or the panel's key."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > VerticalScroll { width: 90%; height: 80%; border: thick $accent; background: $surface;
                                  padding: 0 1; }
    """

    def __init__(self, title: str, body: Text, close_key: str | tuple[str, ...] | None = None):
        super().__init__()
        self.title_text = title
        self.body = body
        self.close_keys = (close_key,) if isinstance(close_key, str) else tuple(close_key or ())
        self.kind = title.lower()
        self.association: int | None = None

    def set_body(self, body: Text) -> None:
        """Replace the text (the findings pane when a fresher diagnosis arrives)."""
        self.body = body
        if self.is_mounted:
            self.query_one("#panel-body", Static).update(body)

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll()
        scroll.border_title = self.title_text
        with scroll:
            yield Static(self.body, id="panel-body", markup=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def on_key(self, event) -> None:
        if event.key in self.close_keys:
            event.stop()
            self.dismiss()

    def action_dismiss(self) -> None:
        self.dismiss()
