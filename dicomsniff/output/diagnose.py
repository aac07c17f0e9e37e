"""``dicomsniff diagnose``: findings grouped by association, most severe first, with frames and hints.

Reads the findings :func:`dicomsniff.model.diagnosis.diagnose` returns (repeats of one
cause already grouped, with a count); the exit status says the worst severity (0 none
or notes only, 1 warnings, 2 errors). ``--list-rules`` prints the catalogue of codes
from the registry (:mod:`dicomsniff.model.rules.registry`).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..field import ERROR, NOTE, SEVERITY_RANK, WARN
from ..model.association import Association
from ..model.findings import Finding
from ..textsafe import safe_text
from .describe import association_title, outcome_text

SEVERITY_STYLE = {ERROR: "bold red", WARN: "yellow", NOTE: "cyan", "chat": "dim"}
EXIT_NONE, EXIT_WARNINGS, EXIT_ERRORS = 0, 1, 2


# Hints for capture notices whose cause is not a damaged file (the default hint's claim).
NOTICE_HINTS = {
    "timestamp-out-of-range": "the tool that wrote the capture gave a time no clock gives (an interface's "
                              "if_tsoffset or if_tsresol, or the packet's own stamp): check the capture host's "
                              "clock and that tool",
    "capture-set-duplicate-file": "the same file was named twice (a file and a glob or directory holding it, or a "
                                  "link): it was read once",
    "capture-set-duplicate-frames": "two files hold the same packets (an overlapping split, or a copy): each packet "
                                    "was read once; check which files belong to the set",
    "capture-set-unreadable": "the file was deleted or replaced while the set was read (a ring buffer's --keep "
                              "removing its oldest file?): read the set again, or copy the files first",
}


def notice_findings(notices: list) -> list[Finding]:
    """Capture-level notices (reader, TCP outside any association) as findings of 'association 0', grouped."""
    from ..model.rules.registry import finalize
    out = []
    for n in notices:
        if n.severity in (ERROR, WARN):
            out.append(Finding(n.severity, n.finding.code, f"{n.where}: {n.message}", 0,
                               [n.frame] if n.frame else [],
                               NOTICE_HINTS.get(n.finding.code,
                                                "the capture file itself is damaged or truncated: recapture if possible")))
    return finalize(out)


def exit_status(findings: list[Finding]) -> int:
    rank = max((f.rank for f in findings), default=0)
    if rank >= SEVERITY_RANK[ERROR]:
        return EXIT_ERRORS
    if rank >= SEVERITY_RANK[WARN]:
        return EXIT_WARNINGS
    return EXIT_NONE


def counts(findings: list[Finding]) -> dict[str, int]:
    out = {ERROR: 0, WARN: 0, NOTE: 0}
    for f in findings:
        out[f.severity] = out.get(f.severity, 0) + 1
    return out


def grouped(assocs: list[Association], findings: list[Finding]) -> list[tuple[Association | None, list[Finding]]]:
    """(association or None for the capture, its findings most severe first); groups most severe first."""
    by: dict[int, list[Finding]] = {}
    for f in findings:
        by.setdefault(f.association, []).append(f)
    known = {a.number: a for a in assocs}
    groups = []
    for num, fs in by.items():
        fs.sort(key=lambda f: (-f.rank, f.frames[0] if f.frames else 0))
        groups.append((known.get(num), fs))
    groups.sort(key=lambda g: (-g[1][0].rank, g[0].number if g[0] is not None else 0))
    return groups


def _frames(f: Finding) -> str:
    if not f.frames:
        return ""
    if f.count > 1 and f.first != f.last:
        return f" [frames {f.first} … {f.last}]"
    shown = ", ".join(map(str, f.frames[:6])) + (" …" if len(f.frames) > 6 else "")
    return f" [frame{'s' if len(f.frames) > 1 else ''} {shown}]"


def finding_line(f: Finding, *, code: bool = True) -> Text:
    """One finding as one line: severity, code, message, frames (the hint goes on its own line)."""
    line = Text()
    line.append(f"{f.severity.upper():<7}", style=SEVERITY_STYLE.get(f.severity, ""))
    times = f" ×{f.count}" if f.count > 1 else ""
    if code:
        line.append(f" {f.code}{times}: ", style="bold")
    else:
        line.append(f"{times} ")
    line.append(safe_text(f.message))
    line.append(_frames(f), style="dim")
    return line


def print_diagnosis(console: Console, capture: str, assocs: list[Association], findings: list[Finding],
                    slow_s: float, idle_s: float = 10.0) -> None:
    c = counts(findings)
    head = Text(f"{safe_text(capture)}: {len(assocs)} association{'s' if len(assocs) != 1 else ''}, ",
                style="bold")
    head.append(f"{c[ERROR]} error{'s' if c[ERROR] != 1 else ''}", style=SEVERITY_STYLE[ERROR] if c[ERROR] else "")
    head.append(", ")
    head.append(f"{c[WARN]} warning{'s' if c[WARN] != 1 else ''}", style=SEVERITY_STYLE[WARN] if c[WARN] else "")
    head.append(f", {c[NOTE]} note{'s' if c[NOTE] != 1 else ''} (slow response threshold {slow_s:g} s,"
                f" idle gap threshold {idle_s:g} s)")
    console.print(head)
    if not findings:
        console.print(Text("No problems found." if assocs else "No DICOM associations found."))
        return
    for a, fs in grouped(assocs, findings):
        console.print()
        if a is None:
            console.print(Text("Capture", style="bold"))
        else:
            t = Text(f"Association #{a.number}  {association_title(a)}  ({a.client} → {a.server})  ", style="bold")
            t.append(outcome_text(a))
            console.print(t)
        for f in fs:
            console.print(Text("  ").append_text(finding_line(f)))
            if f.hint:
                console.print(Text(f"          → {safe_text(f.hint)}", style="dim" if f.severity == NOTE else ""))


def diagnosis_json(capture: str, assocs: list[Association], findings: list[Finding], slow_s: float,
                   idle_s: float = 10.0) -> dict:
    return {
        "capture": capture,
        "slow_threshold_s": slow_s,
        "idle_threshold_s": idle_s,
        "associations": [{"number": a.number, "client": str(a.client), "server": str(a.server),
                          "calling_ae": a.calling_ae, "called_ae": a.called_ae, "outcome": a.outcome}
                         for a in assocs],
        "counts": counts(findings),
        "exit_status": exit_status(findings),
        "findings": [f.to_json() for f in findings],
    }


def _rules(prefix: str | None) -> list:
    from ..model.rules import catalogue_rows
    rows = catalogue_rows()
    return [c for c in rows if not prefix or c.code.startswith(prefix)]


def print_rules(console: Console, prefix: str | None = None) -> None:
    """The catalogue: code, default severity, group, meaning (and, for one code, its evidence and test)."""
    rows = _rules(prefix)
    if not rows:
        console.print(Text(f"no finding code starts with {safe_text(prefix or '')!r}"))
        return
    width = max(len(c.code) for c in rows)
    for c in rows:
        line = Text(f"{c.code:<{width}}  ")
        line.append(f"{c.severity.upper():<7}", style=SEVERITY_STYLE.get(c.severity, ""))
        line.append(f"  {c.group:<11}  {c.summary}")
        console.print(line)
        if len(rows) == 1 or (prefix and c.code == prefix):
            console.print(Text(f"{'':<{width}}  evidence: {c.evidence or '-'}; raised by: {c.source}"
                               f"{' ' + c.rule if c.rule else ''}" + (f"; test: {c.test}" if c.test else "")
                               + ("; not raised when its direction lost bytes (folds into capture-loss)"
                                  if c.fragile else ""), style="dim"))


def rules_json(prefix: str | None = None) -> list[dict]:
    return [{"code": c.code, "severity": c.severity, "group": c.group, "summary": c.summary,
             "evidence": c.evidence, "source": c.source, "rule": c.rule, "test": c.test,
             "fragile": c.fragile, "supersedes": list(c.supersedes)} for c in _rules(prefix)]
