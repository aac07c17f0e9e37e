"""``dicomsniff summary``: the associations table, then each association's contexts and exchanges."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..model.association import Association
from ..textsafe import safe_text
from ..uids import uid_name
from .describe import association_title, context_line, exchange_line, list_cells, outcome_text, tls_lines
from .diagnose import finding_line
from .text import duration_text, rel_time, size_text

OUTCOME_STYLE = {"released": "green", "rejected": "bold red", "aborted": "bold red", "incomplete": "yellow"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan", "chat": "dim"}


def _finding_counts(fs: list) -> Text:
    """'2 err 1 warn' style count of an association's findings (notes are left to the detail)."""
    out = Text()
    for sev, word in (("error", "err"), ("warning", "warn")):
        n = sum(1 for f in fs if f.severity == sev)
        if n:
            if out.plain:
                out.append(" ")
            out.append(f"{n} {word}", style=SEVERITY_STYLE[sev])
    return out


def associations_table(assocs: list[Association], t0: int, findings: dict | None = None) -> Table:
    t = Table(title=f"{len(assocs)} association{'s' if len(assocs) != 1 else ''}", title_justify="left",
              expand=False, show_edge=False, pad_edge=False)
    for col, just in (("#", "right"), ("Start", "right"), ("Client → Server", "left"),
                      ("Calling → Called AE", "left"), ("Outcome", "left"), ("Msgs", "right"),
                      ("Fail", "right"), ("Duration", "right")) + ((("Findings", "left"),) if findings is not None
                                                                  else ()):
        t.add_column(col, justify=just, no_wrap=(col != "Outcome"))
    for a in assocs:
        fails = a.failures
        title, outcome = list_cells(a)          # a TLS connection not decrypted says what TLS showed (issue 15)
        row = [str(a.number), rel_time(a.start_ns or t0, t0), Text(f"{a.client} → {a.server}"),
               Text(title), Text(outcome, style=OUTCOME_STYLE.get(a.outcome, "")),
               str(a.message_count), Text(str(fails), style="bold red" if fails else ""),
               duration_text(a.duration_ns)]
        if findings is not None:
            row.append(_finding_counts(findings.get(a.number, [])))
        t.add_row(*row)
    return t


def association_detail(a: Association, t0: int, findings: list | None = None) -> Group:
    """One association in detail; ``findings``: its diagnosis (``diagnose()``), default none shown."""
    lines: list[Text] = []
    head = Text(f"Association #{a.number}  ", style="bold")
    head.append(association_title(a), style="bold")
    head.append(f"  ({a.client} → {a.server})  ")
    head.append(outcome_text(a), style=OUTCOME_STYLE.get(a.outcome, ""))
    lines.append(head)
    lines.append(Text(f"  start {rel_time(a.start_ns or t0, t0)} s, duration {duration_text(a.duration_ns)},"
                      f" {a.pdu_count} PDUs, {a.message_count} messages, {a.objects} objects,"
                      f" {size_text(a.bytes[a.client_dir])} from client, {size_text(a.bytes[1 - a.client_dir])}"
                      f" from server" + (f", {size_text(int(a.throughput))}/s" if a.throughput else "")))
    lines.extend(Text("  " + x) for x in tls_lines(a, t0))     # DICOM over TLS (issue 15)
    for label, assoc_rq in (("client", a.rq), ("server", a.ac)):
        if assoc_rq is None:
            continue
        ui = assoc_rq.user_info
        maxpdu = ui.max_pdu_length
        maxtext = "unlimited" if maxpdu == 0 else (str(maxpdu) if maxpdu is not None else "-")
        impl = safe_text(ui.implementation_class_uid or "-")
        ver = safe_text(ui.implementation_version or "")
        lines.append(Text(f"  {label}: max PDU {maxtext}, implementation {impl} {ver}".rstrip()))
        for r in ui.roles:
            lines.append(Text(f"    role selection {safe_text(uid_name(r.sop_class_uid))}:"
                              f" SCU={r.scu_role} SCP={r.scp_role}"))
        if ui.async_window:
            lines.append(Text(f"    async operations window: invoked {ui.async_window[0]},"
                              f" performed {ui.async_window[1]}"))
        uid = ui.user_identity
        if uid is not None and label == "client":
            from ..ul.tables import user_identity_type_text
            who = safe_text(uid.primary.decode("utf-8", "replace")) if uid.type in (1, 2) else \
                f"{len(uid.primary)} bytes"
            pw = ", password ********" if uid.secondary else ""
            lines.append(Text(f"    user identity: {user_identity_type_text(uid.type)} {who}{pw}"))
    if a.contexts:
        lines.append(Text("  Presentation contexts:"))
        for ctx in sorted(a.contexts.values(), key=lambda c: c.id):
            style = "green" if ctx.accepted else ("red" if ctx.result is not None else "yellow")
            lines.append(Text("    " + context_line(ctx), style=style))
    if a.exchanges:
        lines.append(Text("  Exchanges:"))
        for ex in a.exchanges:
            info = ex.status_info
            style = ""
            if info is None or info.category == "Failure":
                style = "red"
            elif info.category == "Warning":
                style = "yellow"
            lines.append(Text("    " + exchange_line(ex), style=style))
        if a.folded:
            lines.append(Text(f"    … {a.folded_count} more exchanges, by outcome:"))
            for (name, cat, text), n in sorted(a.folded.items(), key=lambda kv: -kv[1]):
                lines.append(Text(f"      {n:>8} × {name} → {text}", style="red" if cat == "Failure" else ""))
    if findings:
        lines.append(Text("  Findings:"))
        for f in sorted(findings, key=lambda f: (-f.rank, f.frames[0] if f.frames else 0)):
            line = Text("    ").append_text(finding_line(f))
            if f.hint:
                line.append(f"  → {safe_text(f.hint)}", style="dim")
            lines.append(line)
    return Group(*lines)


def print_summary(console: Console, assocs: list[Association], t0: int, notices: list,
                  findings: list | None = None) -> None:
    """The table, then each association with its diagnosis ``findings`` (those of ``dicomsniff diagnose``;
    the model's own findings are refined there and never listed a second time)."""
    by: dict[int, list] = {}
    for f in findings or []:
        by.setdefault(f.association, []).append(f)
    if not assocs:
        console.print("No DICOM associations found.")
    else:
        console.print(associations_table(assocs, t0, by))
        for a in assocs:
            console.print()
            console.print(association_detail(a, t0, by.get(a.number, [])))
    if notices:
        console.print()
        console.print(Text("Capture notices:", style="bold"))
        for n in notices[:50]:
            frame = f" (frame {n.frame})" if n.frame else ""
            console.print(Text(f"  [{n.severity}] {n.where}: {safe_text(n.message)}{frame}",
                               style=SEVERITY_STYLE.get(n.severity, "")))
        if len(notices) > 50:
            console.print(f"  … {len(notices) - 50} more")
