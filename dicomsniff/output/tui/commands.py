"""Command palette entries (ctrl+p): go to association or frame, filter, search, export, panels."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ...textsafe import safe_text

MAX_ASSOCIATION_HITS = 200


class DicomCommands(Provider):
    """Palette commands of the dicomsniff viewer; the app does the work."""

    def _fixed(self) -> list[tuple[str, object, str]]:
        app = self.app
        return [
            ("Filter associations…", app.action_filter, "Open the filter input (/)"),
            ("Search decoded values…", app.action_search, "Free-text search (ctrl+f, then n / N)"),
            ("Export selected association to JSON", app.action_export, "Write it into the current directory (e)"),
            ("Export selected association's objects to .dcm", app.action_export_objects,
             "Its C-STORE data sets as Part-10 files in ./dicomsniff-objects-N/ (o)"),
            ("Show presentation contexts", app.action_contexts, "Accepted and rejected contexts (c)"),
            ("Show findings", app.action_findings, "What went wrong in this association (f)"),
            ("Toggle P-DATA-TF rows", app.action_toggle_pdata, "Show or hide data PDUs in the ladder (p)"),
            ("Clear filter", app.action_clear_filter, "Show every association"),
            ("Apply as filter: the selected field", app.apply_field_filter,
             "Filter on the selected element's value, e.g. PatientID == \"123456\" (a in the field tree)"),
            ("Show all rows / only matching rows", app.action_show_all,
             "With a filter: every row, the others dimmed, or matching rows only (m)"),
        ]

    async def discover(self) -> Hits:
        for name, action, help_text in self._fixed():
            yield DiscoveryHit(name, action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = self.app
        for name, action, help_text in self._fixed():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, help=help_text)
        words = query.replace("#", " ").split()
        number = next((int(w) for w in words if w.isdigit()), None)
        if number is not None:
            name = f"Go to frame {number}"
            yield Hit(1.0, Text(name), partial(app.goto_frame, number), text=name,
                      help="Select the association and the PDU or message holding this frame")
        for a in list(app.session.associations)[:MAX_ASSOCIATION_HITS]:
            name = (f"Go to association #{a.number} {safe_text(a.calling_ae or '?')} → "
                    f"{safe_text(a.called_ae or '?')} ({a.outcome})")
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, Text(name), partial(app.goto_association, a.number), text=name)
