"""The findings pane (``f``): the diagnosis' findings as a list you can act on.

One row per cause, exactly as ``dicomsniff diagnose`` groups them (the diagnosis
framework groups repeats into one finding with a count: nothing is regrouped
here). The selected finding's hint and frames show below the list; ``enter``
jumps to its first frame (selecting the message that holds it), or for a C-MOVE's
sub-association finding to the linked association. ``a`` switches between the
selected association and the whole capture.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ...textsafe import safe_text
from .line_list import LineList
from .rows import SEVERITY_STYLE, findings_text

SEVERITY_LABEL = {"error": "ERROR", "warning": "WARN", "note": "NOTE", "chat": "CHAT"}


@dataclass(frozen=True, slots=True)
class Jump:
    """Where ``enter`` on a finding goes: an association, and a frame in it (0: its first row)."""

    association: int
    frame: int = 0
    why: str = ""


def jump_of(f, diagnosis) -> Jump | None:
    """The target of a finding: the linked association for a C-MOVE link, else its first frame."""
    if f.code == "move-sub-association" and diagnosis is not None:
        parent = diagnosis.parent.get(f.association)
        if parent is not None:            # a sub-association's finding: to the C-MOVE that caused it
            return Jump(parent[0], _move_frame(diagnosis, parent), f"the C-MOVE of association #{parent[0]}")
        subs = diagnosis.children.get(f.association)
        if subs:
            target = subs[0]
            for p, move_id, numbers in diagnosis.links:
                if p == f.association and numbers and f"C-MOVE #{move_id} " in f.message:
                    target = numbers[0]
                    break
            return Jump(target, 0, f"sub-association #{target}")
    frame = f.first if f.frames or f.first_frame else 0
    if not f.association and not frame:
        return None
    if not f.association:
        return Jump(0, frame, f"frame {frame}")
    return Jump(f.association, frame, f"frame {frame}" if frame else f"association #{f.association}")


def _move_frame(diagnosis, parent) -> int:
    number, move_id = parent
    for f in diagnosis.of(number):
        if f.code == "move-sub-association" and f"C-MOVE #{move_id} " in f.message and f.frames:
            return f.first
    return 0


def finding_row(f, show_association: bool) -> Text:
    """One row: severity, count, (association), message, code."""
    style = SEVERITY_STYLE.get(f.severity, "")
    row = Text(no_wrap=True, overflow="ellipsis")
    row.append(f"{SEVERITY_LABEL.get(f.severity, f.severity.upper()):<5} ", style=style)
    count = getattr(f, "count", 1)
    row.append(f"×{count:<3} " if count > 1 else "     ", style=style)
    if show_association:
        row.append(f"#{f.association:<3} " if f.association else "cap  ", style="dim")
    row.append(safe_text(f.message), style="bold" if f.severity == "error" else "")
    row.append(f"  ({safe_text(f.code)})", style="dim")
    return row


class FindingList(LineList):
    """The rows of the findings pane."""

    DEFAULT_CSS = """
    FindingList { height: 1fr; border: round $primary 50%; }
    FindingList:focus { border: round $accent; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.findings: list = []
        self.show_association = False
        self.width_hint = 1

    def set_findings(self, findings: list, show_association: bool) -> None:
        keep = self.cursor
        self.findings, self.show_association = findings, show_association
        self.set_count(len(findings))
        if 0 <= keep < len(findings):
            self.select(keep, notify=False)
        self.invalidate()

    @property
    def selected(self):
        return self.findings[self.cursor] if 0 <= self.cursor < len(self.findings) else None

    def row_text(self, row: int) -> Text:
        return finding_row(self.findings[row], self.show_association)


class FindingsScreen(ModalScreen):
    """The findings of one association (or of the capture): a list, the selected one's hint, ``enter`` to go."""

    BINDINGS = [Binding("escape,q", "dismiss_pane", "Close"),
                Binding("a", "scope", "All / this association"),
                Binding("z", "app.maximize_pane", "Maximise", show=False)]
    DEFAULT_CSS = """
    FindingsScreen { align: center middle; }
    FindingsScreen > Vertical { width: 94%; height: 90%; border: thick $accent; background: $surface; }
    FindingsScreen #findings-head { height: auto; max-height: 3; padding: 0 1; }
    FindingsScreen #findings-detail { height: auto; max-height: 8; padding: 0 1; border-top: solid $primary 50%; }
    """

    def __init__(self, association, diagnosis, associations: list, close_key: tuple[str, ...] = ()):
        super().__init__()
        self.kind = "findings"
        self.assoc = association
        self.association = association.number if association is not None else None
        self.diagnosis = diagnosis
        self.associations = associations
        self.all = association is None
        self.close_keys = tuple(close_key)

    # -- content ----------------------------------------------------------------------

    @property
    def body(self) -> Text:
        """Everything the pane says, as one text (the old panel's text: counts, findings, hints)."""
        if self.assoc is None:
            return Text("\n".join(finding_row(f, True).plain for f in self.rows()))
        return findings_text(self.assoc, self.diagnosis)

    def rows(self) -> list:
        d = self.diagnosis
        if d is None:
            if self.assoc is None:
                return []
            from ...model.rules.registry import group
            return group(list(self.assoc.findings))
        if self.all:
            return list(d.findings)
        return list(d.of(self.association)) + list(d.capture[:20])

    def head(self) -> Text:
        d = self.diagnosis
        out = Text(no_wrap=False)
        if self.all or self.assoc is None:
            out.append("All associations", style="bold")
        else:
            a = self.assoc
            out.append(f"Association #{a.number} ", style="bold")
            out.append(f"{safe_text(a.calling_ae or '?')} → {safe_text(a.called_ae or '?')}", style="bold")
        if d is None:
            out.append("\nDiagnosis runs when loading is done; these are the decoder's findings so far.",
                       style="dim")
            return out
        found = self.rows()
        err = sum(1 for f in found if f.severity == "error")
        warn = sum(1 for f in found if f.severity == "warning")
        notes = len(found) - err - warn
        out.append(f"   {err} error{'s' if err != 1 else ''}, {warn} warning{'s' if warn != 1 else ''}, "
                   f"{notes} note{'s' if notes != 1 else ''}",
                   style="bold red" if err else ("yellow" if warn else "green"))
        if not d.final:
            out.append("  (live: diagnosis of what was captured so far)", style="dim")
        if d.error:
            out.append(f"\ndiagnosis failed: {safe_text(d.error)}", style="bold red")
        out.append("\nenter: go to the finding's frame or linked association   a: all / this association",
                   style="dim")
        return out

    def detail(self) -> Text:
        lst = self.query_one(FindingList)
        f = lst.selected
        if f is None:
            return Text("No findings: nothing looked wrong.", style="green")
        out = Text()
        out.append(safe_text(f.message), style="bold" if f.severity == "error" else "")
        if f.hint:
            out.append(f"\n{safe_text(f.hint)}", style="italic")
        count = getattr(f, "count", 1)
        if f.frames:
            if count > 1 and f.first != f.last:
                out.append(f"\nframes {f.first} … {f.last} ({count} times)", style="dim")
            else:
                more = f" … {len(f.frames) - 8} more" if len(f.frames) > 8 else ""
                out.append(f"\nframes {', '.join(str(x) for x in f.frames[:8])}{more}", style="dim")
        j = jump_of(f, self.diagnosis)
        if j is not None and j.association:
            out.append(f"\nenter: go to {j.why}" + (f" in association #{j.association}"
                                                     if j.frame and j.association != self.association else ""),
                       style="cyan")
        return out

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = "Findings"
        with box:
            yield Static(id="findings-head", markup=False)
            yield FindingList(id="findings-list")
            yield Static(id="findings-detail", markup=False)

    def on_mount(self) -> None:
        self.refresh_rows()
        self.query_one(FindingList).focus()

    def refresh_rows(self) -> None:
        self.query_one("#findings-head", Static).update(self.head())
        lst = self.query_one(FindingList)
        lst.set_findings(self.rows(), self.all)
        self.query_one("#findings-detail", Static).update(self.detail())

    def set_diagnosis(self, diagnosis) -> None:
        """A fresher diagnosis arrived (live): show it."""
        self.diagnosis = diagnosis
        if self.is_mounted:
            self.refresh_rows()

    # -- keys ---------------------------------------------------------------------------

    def on_line_list_selected(self, message) -> None:
        message.stop()
        self.query_one("#findings-detail", Static).update(self.detail())

    def on_line_list_activated(self, message) -> None:
        message.stop()
        f = self.query_one(FindingList).selected
        j = jump_of(f, self.diagnosis) if f is not None else None
        if j is None or not j.association:
            self.app.notify("this finding names no association or frame", severity="warning")
            return
        self.dismiss(j)

    def on_key(self, event) -> None:
        if event.key in self.close_keys:
            event.stop()
            self.dismiss(None)

    def action_dismiss_pane(self) -> None:
        self.dismiss(None)

    def action_scope(self) -> None:
        if self.assoc is None:
            return
        self.all = not self.all
        lst = self.query_one(FindingList)
        lst.reset(0)
        self.refresh_rows()
