"""``dicomsniff view``: the Textual app tying the panes to a background loader.

Layout: associations (top), the selected association's ladder (middle), the
selected PDU's or message's field tree and bytes (bottom). A thread worker
feeds the capture (or a live interface) through the Analyzer and posts a
:class:`Loaded` message every 0.5 s (0.2 s live); the panes only render what
is on screen. A key or click while a file loads makes the loader wait until it
is handled and redrawn (``Loader.ui_turn``), so the two do not share the GIL.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Input, ProgressBar, Static, Tree

from ...textsafe import safe_text
from ...ul.pdus import P_DATA_TF
from .association_list import AssociationList
from .commands import DicomCommands
from .exporting import create_directory, create_file, export_association_objects, export_stem
from .field_tree import FieldRef, FieldTree, is_element
from .findings_pane import FindingsScreen
from .filter import (FilterError, check, filter_associations, filter_text, matches_association, matches_item,
                     parse)
from .hex_pane import HexPane, message_pdv_marks, pdu_pdv_marks
from .keymap import Keys, display_keys, keys_help, load_keys
from .ladder import Ladder
from .rows import ByteSource, association_detail, contexts_text, item_search_text
from .session import Diagnosis, Loader, Progress, new_analyzer, new_session
from .text_screen import TextScreen

LIVE_FILTER_MESSAGES = 50_000   # above this many messages the filter applies on enter, not per keystroke

HELP = """dicomsniff view: a capture's DICOM associations, messages, fields
and bytes.

Panes
  Associations (top): one row per association; err and warn count the
  diagnosis' errors and warnings (f lists them, with hints).
  Messages (middle): the selected association as a ladder of arrows
  between SCU and SCP. A row marked ! holds a frame that a finding names
  (red: an error, yellow: a warning).
  Fields (bottom left): the selected message's command set and data set,
  one row per element as DICOM tools print it: tag, VR, [length],
  keyword and value, (0010,0010) PN [8] PatientName: DOE^JOHN.
  → shows an element's bytes (Tag, VR, Length, Value); sequences open
  with their items. The pane's bottom line names the selected element
  and where its bytes are.
  Bytes (bottom right): the selected field's bytes, highlighted.

Moving around
  tab and shift+tab move between panes; enter opens (association, then
  its messages, then the fields). ctrl+p opens the command palette: go
  to an association or a frame (type its number), filter, search, apply
  as filter, export, panels. Mouse: click selects, double-click opens.
  From the command line, dicomsniff view CAPTURE -g FRAME opens with
  that frame's message selected, and -Y EXPR with a display filter.

Keys (as now mapped; * marks one remapped in the keys file)
"""


class Loaded(Message):
    """A batch from the loader: progress and 'there is more to show'."""

    def __init__(self, progress: Progress):
        super().__init__()
        self.progress = progress


class Diagnosed(Message):
    """The loader diagnosed the session (once loaded; every few seconds when live)."""

    def __init__(self, diagnosis: Diagnosis):
        super().__init__()
        self.diagnosis = diagnosis


class ViewerApp(App):
    """The dicomsniff viewer over a capture file or a live source."""

    TITLE = "dicomsniff"
    COMMANDS = App.COMMANDS | {DicomCommands}
    CSS = """
    #status { height: 1; padding: 0 1; background: $boost; }
    #progress { height: 1; padding: 0 1; }
    #progress.-done { display: none; }
    AssociationList { height: 1fr; min-height: 5; }
    #detail { height: 1; padding: 0 1; }
    Ladder { height: 2fr; min-height: 5; }
    #bottom { height: 2fr; min-height: 6; }
    #filter, #search { display: none; }
    #filter.-open, #search.-open { display: block; }
    #filter.-invalid { border: tall $error; }
    #filter-error { display: none; color: $error; height: 1; padding: 0 1; }
    #filter-error.-open { display: block; }
    TextScreen.-help > VerticalScroll { width: 100%; max-width: 82; }
    """
    BINDINGS = [                       # ids: remappable in keys.toml (keymap.py)
        Binding("q", "quit", "Quit", id="quit"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("ctrl+f", "search", "Search", id="search"),
        Binding("n", "search_next(1)", "Next", show=False, id="search_next"),
        Binding("N", "search_next(-1)", "Prev", show=False, id="search_previous"),
        Binding("c", "contexts", "Contexts", id="contexts"),
        Binding("f", "findings", "Findings", id="findings"),
        Binding("p", "toggle_pdata", "P-DATA", id="toggle_pdata"),
        Binding("m", "show_all", "All/matching", show=False, id="show_all"),
        Binding("e", "export", "JSON", id="export"),
        Binding("o", "export_objects", "Objects", id="export_objects"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("s", "statistics", "Stats", id="statistics"),
        Binding("i", "io_graph", "I/O graph", id="io_graph"),
        Binding("z", "maximize_pane", "Max", id="maximize_pane"),
        Binding("escape", "close_inputs", "Close", show=False, id="close"),
    ]

    def __init__(self, path: str | None = None, *, reader=None, live=None, writer=None, ports=(),
                 name: str | None = None, show_timing: bool = True, keys: Keys | None = None,
                 slow_s: float = 5.0, idle_s: float = 10.0, goto: int | None = None,
                 display_filter: str | None = None):
        super().__init__()
        self.goto = goto                       # -g FRAME: select that frame's message once it is read
        self._goto_landed = None               # the row -g selected while loading (scrolled again once loaded)
        self.display_filter = display_filter   # -Y EXPR: open filtered (checked by the CLI beforehand)
        self.show_timing = show_timing
        self.keys = load_keys() if keys is None else keys
        self.slow_s = slow_s
        self.idle_s = idle_s
        self.path = path
        self.reader = reader
        self.live = live
        self.writer = writer
        self.ports = tuple(ports)
        label = name or (f"live on {live.interface}" if live is not None else os.path.basename(str(path)))
        self.session = new_session(label, live=live is not None, path=path)
        self.analyzer = new_analyzer(self.ports)
        self.loader: Loader | None = None
        self.finished = threading.Event()
        self.progress: Progress | None = None
        self.expr = None
        self.filter_text = ""
        self.hide_pdata = False
        self.show_all = False                  # with a filter: every row, the non-matching dimmed (m)
        self.search_query = ""
        self.error: str | None = None
        self.first_screen_at: float | None = None
        self.loaded_at: float | None = None
        self.diagnosed_at: float | None = None
        self.exports: list = []           # (association number, directory, records) of finished object exports
        self.started = time.monotonic()
        self._hex_unit: str | None = None
        self._item = None

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status", markup=False)
        yield ProgressBar(total=None, id="progress", show_eta=False)
        yield AssociationList(id="assocs")
        yield Static(id="detail", markup=False)
        yield Ladder(id="ladder")
        with Horizontal(id="bottom"):
            yield FieldTree(id="tree")
            yield HexPane(id="hex")
        yield Input(placeholder="filter, e.g. state == rejected or (command == C-STORE and status != success)",
                    id="filter")
        yield Static(id="filter-error", markup=False)
        yield Input(placeholder="search decoded values (enter; then n / N)", id="search")
        yield Footer()

    @property
    def assoc_list(self) -> AssociationList:
        return self.query_one(AssociationList)

    @property
    def ladder(self) -> Ladder:
        return self.query_one(Ladder)

    @property
    def tree(self) -> FieldTree:
        return self.query_one(FieldTree)

    @property
    def hex(self) -> HexPane:
        return self.query_one(HexPane)

    @property
    def diagnosis(self) -> Diagnosis | None:
        return self.session.diagnosis

    def on_mount(self) -> None:
        for lst in (self.assoc_list, self.ladder):
            lst.auto_follow = self.session.live
        if self.keys.keymap:
            self.set_keymap(self.keys.keymap)
        for problem in self.keys.problems[:5]:
            self.notify(f"keys: {problem}", severity="warning", markup=False, timeout=10)
        self.assoc_list.focus()
        self._set_status(Text(f"{safe_text(self.session.name)}: loading…"))
        if self.live is None and self.reader is None:
            from ...capture.reader import CaptureFormatError, open_capture
            try:
                self.reader = open_capture(self.path)
            except CaptureFormatError as e:
                self._fail(str(e))
                return
            except OSError as e:
                self._fail(f"{safe_text(self.path)}: {e.strerror or e}")
                return
        self.loader = Loader(self.session, self.analyzer, self._post, self._post_diagnosis, slow_s=self.slow_s,
                             idle_s=self.idle_s)
        if self.display_filter:
            self.query_one("#filter", Input).value = self.display_filter
            self.apply_filter(self.display_filter)
        self.load()

    async def on_event(self, event: events.Event) -> None:
        """A key or click while a file loads: the loader waits until it is handled and redrawn."""
        if (isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp))
                and self.loader is not None
                and self.live is None and not self.session.done):
            turn = self.loader.ui_turn
            turn.clear()
            # twice: after the key's own messages, then after those they posted (a list's Selected)
            self.call_after_refresh(self.call_after_refresh, turn.set)
        await super().on_event(event)

    def _fail(self, message: str) -> None:
        self.error = message
        self.query_one("#progress").add_class("-done")
        self._set_status(Text(f"cannot read the capture: {safe_text(message)}", style="bold red"))
        self.finished.set()

    def _post(self, progress: Progress) -> None:
        self.post_message(Loaded(progress))

    def _post_diagnosis(self, diagnosis: Diagnosis) -> None:
        self.post_message(Diagnosed(diagnosis))

    @work(thread=True, exclusive=True, name="loader")
    def load(self) -> None:
        """Background: feed every frame to the Analyzer; the loader posts Loaded batches."""
        try:
            if self.live is not None:
                self.loader.run_live(self.live, self.writer)
            else:
                self.loader.run_file(self.reader)
        finally:
            self.finished.set()

    # -- loading ---------------------------------------------------------------------------

    def on_loaded(self, message: Loaded) -> None:
        p = message.progress
        self.progress = p
        bar = self.query_one(ProgressBar)
        if p.size:
            bar.update(total=p.size, progress=min(p.bytes_read, p.size))
        if p.done:
            bar.add_class("-done")
            self.loaded_at = time.monotonic()
            if self._goto_landed is not None:
                self.call_after_refresh(self._reland_goto)
        self._refresh_associations()
        self.ladder.grow()
        if self.first_screen_at is None and (self.session.associations or p.done):
            self.first_screen_at = time.monotonic()
        self._update_status()
        if self.goto is not None and (p.done or p.frames > self.goto):
            self._goto_pending(p.done)
        if p.error:
            self.notify(f"loading stopped: {safe_text(p.error)}", severity="error", markup=False)

    def on_diagnosed(self, message: Diagnosed) -> None:
        """New findings: counts in the list, ! marks in the ladder, the findings pane if open."""
        d = message.diagnosis
        if d.final:
            self.diagnosed_at = time.monotonic()
        before = self.assoc_list.selected
        self.assoc_list.set_diagnosis(d)
        if self.assoc_list.selected is not before:
            self._show_association(self.assoc_list.selected)
        self._update_status()
        a = self.ladder.assoc
        if a is not None:
            self.ladder.set_marks(d.frame_marks(a.number))
        self._update_detail()
        for screen in self.screen_stack:
            if isinstance(screen, FindingsScreen):
                screen.set_diagnosis(d)
        if d.error:
            self.notify(f"diagnosis failed: {safe_text(d.error)}", severity="error", markup=False)

    def _update_status(self) -> None:
        p = self.progress
        s = self.session
        out = Text(no_wrap=True, overflow="ellipsis")
        name = safe_text(s.name)
        out.append(name if len(name) <= 40 else "…" + name[-39:], style="bold")
        d = self.diagnosis
        if d is not None:                 # first, so a narrow screen cuts the less important parts
            err, warn, notes = d.totals()
            out.append("  ")
            out.append(f"{err} error{'s' if err != 1 else ''}", style="bold red" if err else "dim")
            out.append(", ")
            out.append(f"{warn} warning{'s' if warn != 1 else ''}", style="yellow" if warn else "dim")
            out.append(", ")
            out.append(f"{notes} note{'s' if notes != 1 else ''}", style="cyan" if notes else "dim")
            if not d.final:
                out.append(" so far", style="dim")
        if self.expr is not None:         # before the frame counts: what the panes show depends on it
            shown = ("all shown, others dim; m: matching only" if self.show_all
                     else f"{len(self.assoc_list.shown)} shown; m: show all")
            out.append(f"  filter: {safe_text(self.filter_text)} ({shown})", style="cyan")
        if p is not None:
            n = len(s.associations)
            out.append(f"  {p.frames} frames, {n} association{'s' if n != 1 else ''}")
            if s.live:
                out.append(f", {p.drops} dropped" if p.drops else "")
                if self.writer is not None:
                    out.append(f", saving to {safe_text(self.writer.path)}")
                if p.done:
                    out.append("  (capture stopped)")
            elif p.done:
                out.append(f"  loaded in {p.elapsed:.2f} s" if self.show_timing else "  loaded")
            elif p.size:
                out.append(f"  {100 * p.bytes_read // max(1, p.size)}%")
            if p.done and not s.associations:
                out.append("  no DICOM traffic found" + ("" if self.ports else " (try --port N)"),
                           style="yellow")
        self._set_status(out)

    def _set_status(self, text: Text) -> None:
        # one fixed-height line: no layout pass (a reflow of every pane, several times a second while loading)
        self.query_one("#status", Static).update(text, layout=False)

    def _refresh_associations(self, *, reset: bool = False) -> None:
        s = self.session
        assocs = list(s.associations)
        shown = filter_associations(self.expr, assocs) if self.expr is not None and not self.show_all else assocs
        t1 = max(s.last_ts, s.t0)
        lst = self.assoc_list
        before = lst.selected
        expr = self.expr
        lst.dims = (lambda a: not matches_association(expr, a)) if expr is not None and self.show_all else None
        lst.set_rows(shown, s.t0, t1, reset=reset)
        if lst.selected is not before or (reset and lst.cursor >= 0):
            self._show_association(lst.selected)
        elif lst.selected is not None and self.ladder.assoc is not lst.selected:
            self._show_association(lst.selected)
        elif lst.selected is None:
            self._show_association(None)
        self._update_detail()

    def _update_detail(self) -> None:
        a = self.assoc_list.selected
        d = self.diagnosis
        counts = d.count(a.number) if (a is not None and d is not None) else None
        text = association_detail(a, counts) if a is not None else Text("")
        if text != getattr(self, "_detail_text", None):
            self._detail_text = text
            self.query_one("#detail", Static).update(text, layout=False)

    # -- selection ---------------------------------------------------------------------------

    def on_line_list_activated(self, message) -> None:
        (self.ladder if message.list is self.assoc_list else self.tree).focus()

    def on_line_list_selected(self, message) -> None:
        if not self.query(AssociationList):       # a message that arrives while the app closes
            return
        if message.list is self.assoc_list:
            a = self.assoc_list.selected
            if a is not self.ladder.assoc:
                self._show_association(a)
            self._update_detail()
        elif message.list is self.ladder:
            self._show_item(self.ladder.selected)

    def _show_association(self, a, keep=None) -> None:
        """Show association ``a`` in the ladder; ``keep``: the row to select again if still shown."""
        if a is None:
            self.ladder.show(None, [], 0, self.expr, self.hide_pdata, self.show_all)
            self._show_item(None)
            return
        d = self.diagnosis
        self.ladder.marks = d.frame_marks(a.number) if d is not None else ([], {})
        follow = self.session.live and not a.closed and self.assoc_list.following
        self.ladder.show(a, self.session.items_of(a), self.session.t0, self.expr, self.hide_pdata, self.show_all,
                         keep=keep)
        if follow and self.ladder.count:
            self.ladder.select(self.ladder.count - 1, notify=False)
        self._show_item(self.ladder.selected)

    def _show_item(self, item) -> None:
        self._item = item
        tree, hexp = self.tree, self.hex
        if item is None:
            tree.show_units(Text("(nothing selected)"), [])
            hexp.show(None, "Bytes")
            self._hex_unit = None
            return
        if item.message is None:
            pdu = item.pdu
            title = Text(f"{pdu.name} ({6 + pdu.length} bytes, frame {item.frame})", style="bold")
            tree.show_units(title, [("pdu", pdu.tree())])
            self._show_unit("pdu")
            return
        m = item.message
        units = []
        if m.command is not None:
            units.append(("command", m.command.tree))
        if m.data is not None:
            units.append(("data", m.data.tree))
        title = Text(f"{m.name} on context {m.context_id}", style="bold")
        tree.show_units(title, units)
        self._show_unit("command")
        if m.command is not None and m.command.status is not None:
            tree.select_field(lambda f: f.key == "Status")

    def _show_unit(self, unit: str) -> None:
        item = self._item
        self._hex_unit = unit
        read = self.session.read_frame
        tls = getattr(self.ladder.assoc, "tls", None)      # TLS hook (issue 15): a PDU's bytes shown decrypted
        if tls is not None:
            read = tls.frame_reader(read)
        if item is None:
            self.hex.show(None, "Bytes")
        elif unit == "pdu":
            self.hex.show(ByteSource(item.pdu.spans, read), f"PDU bytes ({item.pdu.name})",
                          pdvs=pdu_pdv_marks(item.pdu))
        elif unit == "command":
            spans = item.message.command_spans
            self.hex.show(ByteSource(spans, read), "Command set bytes", pdvs=self._pdv_marks(item.message, True))
        else:
            m = item.message
            if m.data_spans is None:
                self.hex.show(None, "Data set bytes")
                return
            note = ""
            if m.data is not None and m.data.inflated:
                note = "deflated on the wire: field offsets refer to the inflated bytes, not shown here"
            self.hex.show(ByteSource(m.data_spans, read), "Data set bytes", note,
                          pdvs=[] if note else self._pdv_marks(m, False))

    def _pdv_marks(self, message, command: bool) -> list:
        """Where the PDVs of a message's command (or data) set begin, for the hex pane's marks."""
        a = self.ladder.assoc
        if a is None:
            return []
        spans = message.command_spans if command else message.data_spans
        try:
            return message_pdv_marks(list(self.session.items_of(a)), message, command, spans)
        except Exception:          # marks are a help: never let them stop the bytes from showing
            return []

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        ref = event.node.data
        if not isinstance(ref, FieldRef) or event.node.tree is not self.tree:
            return
        item = self._item
        m = item.message if item is not None else None
        if item is None or (ref.unit == "pdu") != (m is None) or (ref.unit == "data" and m.data is None):
            return                         # a late event from the tree of a row no longer selected
        if ref.unit != self._hex_unit:
            self._show_unit(ref.unit)
        if ref.unit == "data" and m is not None and m.data is not None and m.data.inflated:
            return
        self.hex.set_highlight(ref.field.offset, ref.field.length)

    # -- filter and search -----------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-open")
        box.value = self.filter_text
        box.focus()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("-open")
        box.value = self.search_query
        box.focus()

    def action_close_inputs(self) -> None:
        for sel in ("#filter", "#search", "#filter-error"):
            self.query_one(sel).remove_class("-open")
        if isinstance(self.focused, Input) or self.focused is None:
            self.assoc_list.focus()

    def _live_filtering(self) -> bool:
        """Apply the filter as it is typed (small sessions), or only on enter (big ones: element
        filters decode data sets, and a keystroke must not wait for that)."""
        return sum(len(a.messages) for a in list(self.session.associations)) <= LIVE_FILTER_MESSAGES

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        err = check(event.value)
        box = event.input
        label = self.query_one("#filter-error", Static)
        if err is not None:
            box.add_class("-invalid")
            label.update(Text(safe_text(err)))
            label.add_class("-open")
            return
        box.remove_class("-invalid")
        label.remove_class("-open")
        if self._live_filtering():
            self.apply_filter(event.value)

    def apply_filter(self, text: str) -> bool:
        """Apply a filter expression (empty clears it); False (and no change) if it is invalid.

        The selected message stays selected when the new filter still shows it.
        """
        text = text.strip()
        try:
            expr = parse(text) if text else None
        except FilterError:
            return False
        if text == self.filter_text and (expr is None) == (self.expr is None):
            return True
        keep_assoc, keep_item = self.assoc_list.selected, self.ladder.selected
        self.expr, self.filter_text = expr, text
        self.ladder.expr = expr
        self._refresh_associations(reset=True)
        self._keep_selection(keep_assoc, keep_item)
        self._update_status()
        return True

    def _keep_selection(self, assoc, item) -> None:
        """After the rows changed: select ``item`` again if its association and row are still shown."""
        if assoc is None or item is None or self.assoc_list.selected is not assoc:
            return
        if self.ladder.assoc is not assoc:
            self._show_association(assoc, keep=item)
        elif self.ladder.reselect(item):
            self._show_item(item)

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.apply_filter("")

    def action_show_all(self) -> None:
        """m: with a filter, switch between matching rows only and every row (non-matching dimmed)."""
        if self.expr is None:
            self.notify("no filter: every row is shown (/ to filter)", severity="information")
            return
        self.show_all = not self.show_all
        keep_assoc, keep_item = self.assoc_list.selected, self.ladder.selected
        self.ladder.set_filter(self.expr, self.show_all)
        self._refresh_associations(reset=True)
        self._keep_selection(keep_assoc, keep_item)
        self._update_status()
        self.notify("every row shown, the non-matching dimmed (m: matching only)" if self.show_all
                    else "only matching rows shown (m: show all)")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if check(event.value) is None:
                self.apply_filter(event.value)
                event.input.remove_class("-open")
                self.assoc_list.focus()
        elif event.input.id == "search":
            self.search_query = event.value.strip()
            event.input.remove_class("-open")
            self.ladder.focus()
            self.action_search_next(1)

    def on_field_tree_apply_filter(self, message: FieldTree.ApplyFilter) -> None:
        """a (in the tree) or the palette: filter on the selected element's value, as Wireshark does."""
        self.apply_field_filter(message.ref)

    def apply_field_filter(self, ref: FieldRef | None = None) -> bool:
        """Make the selected tree field a display filter (``PatientID == "123456"``); False if it is not an element."""
        ref = ref if ref is not None else self.tree.selected_ref
        text = filter_text(ref.field) if ref is not None else None
        if text is None:
            self.notify("select an element of the command or data set to filter on it", severity="warning")
            return False
        if check(text) is not None:                 # a value our own quoting cannot express
            self.notify(f"cannot filter on this value: {safe_text(check(text))}", severity="warning", markup=False)
            return False
        self.show_all = False
        self.query_one("#filter", Input).value = text
        self.apply_filter(text)
        self.notify(f"filter: {safe_text(text)}", markup=False)
        return True

    def on_field_tree_show_bytes(self, message: FieldTree.ShowBytes) -> None:
        """End in the tree: bring the field's bytes to the top of the hex pane."""
        ref = message.ref
        if ref.unit != self._hex_unit:
            self._show_unit(ref.unit)
        m = self._item.message if self._item is not None else None
        if ref.unit == "data" and m is not None and m.data is not None and m.data.inflated:
            self.notify("deflated on the wire: the bytes shown are not these offsets", severity="warning")
            return
        f = ref.field
        self.hex.set_highlight(f.offset, f.length)
        self.hex.scroll_to(y=max(0, f.offset // 16), animate=False, immediate=True)

    def action_search_next(self, direction: int) -> None:
        """Select the next (or previous) ladder row whose decoded values contain the query,
        and in the field tree the element that holds it."""
        q = self.search_query.lower()
        if not q:
            self.action_search()
            return
        lst = self.assoc_list
        if not lst.shown:
            return
        n_assocs = len(lst.shown)
        start_a = max(0, lst.cursor)
        for step in range(n_assocs + 1):
            ai = (start_a + direction * step) % n_assocs
            a = lst.shown[ai]
            items = self.ladder.items if step == 0 else self._view_items(a)
            if step == 0:
                rng = range(self.ladder.cursor + direction, len(items) if direction > 0 else -1, direction)
            else:
                rng = range(0, len(items)) if direction > 0 else range(len(items) - 1, -1, -1)
            for i in rng:
                if q in item_search_text(items[i]):
                    if ai != lst.cursor:
                        lst.select(ai, notify=False)
                        self._show_association(a)
                        self._update_detail()
                    self.ladder.select(i, notify=False)
                    self._show_item(items[i])
                    if not self.tree.select_field(lambda f: is_element(f) and q in f.text().lower()):
                        self.tree.select_field(lambda f: q in f.text().lower())
                    return
        self.notify(f"not found: {safe_text(self.search_query)}", severity="warning", markup=False)

    def _view_items(self, a) -> list:
        """The rows the ladder would show for ``a`` (P-DATA-TF and filter as now)."""
        items = self.session.items_of(a)
        drop_pdata = self.hide_pdata
        expr = self.expr if not self.show_all else None
        if not drop_pdata and expr is None:
            return list(items)
        return [i for i in items
                if not (drop_pdata and i.message is None and i.pdu.pdu_type == P_DATA_TF)
                and matches_item(expr, a, i)]

    # -- panels, export, navigation ----------------------------------------------------------

    def _close_keys(self, action: str) -> tuple[str, ...]:
        keys = App._normalize_keymap({action: self.keys.keys(action)})[action]
        return tuple(k.strip() for k in keys.split(",") if k.strip())

    def action_contexts(self) -> None:
        a = self.assoc_list.selected
        if a is not None:
            self.push_screen(TextScreen("Presentation contexts", contexts_text(a),
                                        close_key=self._close_keys("contexts")))

    def action_findings(self) -> None:
        """The diagnosis findings of the selected association (live: asks for a fresh diagnosis)."""
        a = self.assoc_list.selected
        if a is None and self.diagnosis is None:
            return
        if self.session.live and self.loader is not None and not self.session.done:
            self.loader.want_diagnosis.set()
        screen = FindingsScreen(a, self.diagnosis, list(self.session.associations),
                                close_key=self._close_keys("findings"))
        self.push_screen(screen, self._jump)

    def _jump(self, jump) -> None:
        """After ``enter`` in the findings pane: select the association and the message holding the frame."""
        if jump is None:
            return
        if jump.association and not self.goto_association(jump.association):
            return
        if self.ladder.assoc is not self.assoc_list.selected:     # now, not when the selection message arrives
            self._show_association(self.assoc_list.selected)
            self._update_detail()
        if jump.frame:
            self.select_frame_row(jump.frame)

    def select_frame_row(self, frame: int) -> bool:
        """In the shown ladder, select the DIMSE message holding ``frame`` (else the PDU row holding it)."""
        items = self.ladder.items
        pdu_row = None
        for i, item in enumerate(items):
            if frame in item.frames:
                if item.message is not None:
                    self.ladder.select(i)
                    self.ladder.focus()
                    return True
                if pdu_row is None:
                    pdu_row = i
        if pdu_row is not None:
            self.ladder.select(pdu_row)
            self.ladder.focus()
            return True
        self.notify(f"frame {frame} is not in the shown rows", severity="warning")
        return False

    def action_statistics(self) -> None:
        """s: response-time statistics (per service and per peer) of the capture or the selected association."""
        from .stats_screen import StatsScreen
        self.push_screen(StatsScreen(self.session, self.assoc_list.selected,
                                     close_key=self._close_keys("statistics")))

    def action_io_graph(self) -> None:
        """i: bytes per interval over time (the capture, or the selected association), as a plot."""
        from .plot import IOGraphScreen
        self.push_screen(IOGraphScreen(self.session, self.assoc_list.selected,
                                       close_key=self._close_keys("io_graph")))

    def action_maximize_pane(self) -> None:
        """Maximise the focused pane to the whole screen, or restore it."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        elif screen.focused is not None:
            screen.maximize(screen.focused, container=False)

    def action_help(self) -> None:
        from .filter import HELP as FILTER_HELP
        body = Text(HELP + keys_help(self.keys) + "\n\n" + FILTER_HELP)
        screen = TextScreen("Help", body, close_key=self._close_keys("help"))
        screen.add_class("-help")          # written for 76 columns: as wide as an 80-column terminal allows
        self.push_screen(screen)

    def action_toggle_pdata(self) -> None:
        self.hide_pdata = not self.hide_pdata
        self._show_association(self.assoc_list.selected, keep=self.ladder.selected)
        self.notify("P-DATA-TF rows hidden" if self.hide_pdata else "P-DATA-TF rows shown")

    def action_export(self) -> str | None:
        """Write the selected association as JSON into the current directory; returns the path.

        Named ``dicomsniff-association-N-frames-FIRST-LAST.json`` (``-2``, ``-3``… when taken): the
        same scheme as the objects' folder, and never replacing a file.
        """
        from ..json_export import association_json
        from ...textsafe import json_text
        a = self.assoc_list.selected
        if a is None:
            self.notify("no association selected", severity="warning")
            return None
        text = json_text(association_json(a, t0=self.session.t0), indent=1)
        try:
            path = create_file(".", export_stem("association", a), ".json", text.encode("utf-8"))
        except OSError as e:
            self.notify(f"export failed: {safe_text(e)}", severity="error", markup=False)
            return None
        self.notify(f"association #{a.number} written to {os.path.abspath(path)}", markup=False)
        return str(path)

    def action_export_objects(self) -> None:
        """Write the selected association's C-STORE objects as .dcm files, in a worker."""
        a = self.assoc_list.selected
        if a is None:
            self.notify("no association selected", severity="warning")
            return
        if self.path is None or self.live is not None:
            self.notify("exporting objects needs a capture file: save the live capture with -w, then "
                        "dicomsniff view FILE", severity="warning")
            return
        stores = sum(1 for m in list(a.messages) if m.command is not None and m.command.command_field == 0x0001)
        if not stores:
            self.notify(f"association #{a.number} carries no C-STORE request", severity="warning")
            return
        try:
            directory = create_directory(".", export_stem("objects", a))
        except OSError as e:
            self.notify(f"object export failed: {safe_text(e)}", severity="error", markup=False)
            return
        self.notify(f"exporting the objects of association #{a.number} to {os.path.abspath(directory)}…",
                    markup=False)
        self._export_objects(a.number, str(directory), a.last_frame if a.closed else None)

    @work(thread=True, group="export-objects", exit_on_error=False)
    def _export_objects(self, number: int, directory: str, last_frame: int | None) -> None:
        stop = self.loader.stop if self.loader is not None else None
        skipped: list[str] = []
        try:
            records, summary = export_association_objects(self.path, number, directory, ports=self.ports,
                                                          last_frame=last_frame, stop=stop, say=skipped.append)
        except Exception as e:           # never a traceback: say what went wrong
            self.call_from_thread(self.notify, f"object export failed: {safe_text(e)}", severity="error",
                                  markup=False)
            return
        self.exports.append((number, directory, records))
        self.call_from_thread(self.notify, summary + "".join(f"\n{line}" for line in skipped[:3]),
                              markup=False, timeout=10)

    def goto_association(self, number: int) -> bool:
        """Select association ``number`` (clearing the filter if it hides it)."""
        lst = self.assoc_list
        for attempt in range(2):
            for i, a in enumerate(lst.shown):
                if a.number == number:
                    lst.select(i)
                    lst.focus()
                    return True
            if attempt == 0 and self.expr is not None:
                self.action_clear_filter()
        self.notify(f"no association #{number}", severity="warning")
        return False

    def goto_frame(self, frame: int, *, quiet: bool = False, final: bool = True) -> bool:
        """Select the DIMSE message (else the PDU) whose bytes include ``frame``: its association,
        its ladder row, its fields. A row the filter hides is shown by showing every row (m).
        ``final`` False (still loading): a P-DATA-TF whose message is not complete yet is not taken."""
        for a in list(self.session.associations):
            if not (a.first_frame <= frame <= max(a.last_frame, a.first_frame)):
                continue
            hits = [it for it in list(self.session.items_of(a)) if frame in it.frames]
            if not hits:
                continue
            item = next((it for it in hits if it.message is not None), hits[0])
            if not final and item.message is None and item.pdu.pdu_type == P_DATA_TF:
                return False            # its message ends in a frame not read yet: the next batch
            flipped = False
            if self.hide_pdata and item.message is None and item.pdu.pdu_type == P_DATA_TF:
                self.hide_pdata = False
            if self.expr is not None and not self.show_all and not matches_item(self.expr, a, item):
                self.show_all = flipped = True
                self.notify(f"frame {frame} does not match the filter: every row shown, the others dimmed "
                            "(m: matching only)", markup=False)
            lst = self.assoc_list
            if flipped or not any(x is a for x in lst.shown):
                self._refresh_associations(reset=True)
            row = next((i for i, x in enumerate(lst.shown) if x is a), None)
            if row is None:
                continue
            lst.select(row, notify=False)
            self._show_association(a, keep=item)
            self._update_detail()
            if self.ladder.selected is not item:
                self.ladder.reselect(item)
                self._show_item(self.ladder.selected)
            self.ladder.focus()
            return True
        if not quiet:
            self.notify(f"frame {frame} holds no PDU of a DICOM association", severity="warning")
        return False

    def _goto_pending(self, done: bool) -> None:
        """-g FRAME: select it as soon as it is read (quietly retried per batch; said once loaded)."""
        found = self.goto_frame(self.goto, quiet=not done, final=done)
        if found or done:
            self.goto = None
        if found:
            self._goto_landed = self.ladder.selected
            if done:                    # the progress bar goes in this same batch: scroll after that layout
                self.call_after_refresh(self._reland_goto)

    def _reland_goto(self) -> None:
        """Loaded: the progress bar is gone and the ladder taller; -g's row is scrolled into view again, as if
        it had been selected now (the same screen whether the frame was found early or late)."""
        item, self._goto_landed = self._goto_landed, None
        if item is not None and self.ladder.selected is item:
            self.ladder.scroll_to(y=0, animate=False, immediate=True)
            self.ladder.scroll_to_row(self.ladder.cursor)

    async def action_quit(self) -> None:
        """Stop the loader (a live capture finishes its pcap), then exit."""
        if self.loader is not None:
            self.loader.stop.set()
        if self.live is not None:
            self.live.close()
        await asyncio.get_running_loop().run_in_executor(None, self.finished.wait, 3.0)
        if self.session.frames is not None:
            self.session.frames.close()
        self.exit()
