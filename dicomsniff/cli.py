"""Command line: arguments only; the work is done by the pipeline and the output modules."""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

import click

from . import __version__
from .capture.reader import CaptureFormatError
from .safeio import OutputError
from .textsafe import json_text, safe_text

if TYPE_CHECKING:      # the pipeline is imported by the commands that read a capture, not at start-up
    from .pipeline import Analyzer


def _ports(values: tuple[int, ...]) -> set[int]:
    return set(values)


def captures_argument(fn):
    """CAPTURE...: one capture file (or '-'), or several files, a directory or a glob read as one capture."""
    return click.argument("capture", nargs=-1, required=True, metavar="CAPTURE",
                          type=click.Path(allow_dash=True), callback=_capture_set_arg)(fn)


def _capture_set_arg(ctx, param, value):
    """The CAPTURE arguments as read_events takes them (capture/captureset.py: input_arg)."""
    if not value:
        return value
    from .capture.captureset import input_arg
    try:
        return input_arg(value)
    except CaptureFormatError as e:
        click.echo(f"dicomsniff: {safe_text(e)}", err=True)
        sys.exit(2)


def friendly_errors(fn):
    """No traceback reaches a user: known errors are one line, exit 2; others say how to report."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (CaptureFormatError, OutputError) as e:
            click.echo(f"dicomsniff: {safe_text(e)}", err=True)
            sys.exit(2)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except OSError as e:         # missing, a directory, unreadable, disk full: the file and why
            where = e.filename if e.filename is not None else "output"
            click.echo(f"dicomsniff: {safe_text(os.fsdecode(where))}: {safe_text(e.strerror or e)}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("dicomsniff: interrupted", err=True)
            sys.exit(130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except SystemExit:
            raise
        except Exception as e:  # the last line of defence for users
            if os.environ.get("DICOMSNIFF_DEBUG"):
                raise
            click.echo(f"dicomsniff: internal error: {type(e).__name__}: {e} "
                       "(set DICOMSNIFF_DEBUG=1 for the traceback)", err=True)
            sys.exit(3)
    return wrapper


port_option = click.option("--port", "-p", "ports", type=click.IntRange(1, 65535), multiple=True,
                           help="Treat TCP traffic on this port as DICOM (repeatable). "
                                "Without it DICOM is recognised from the bytes on any port.")


def threshold_options(fn):
    """--slow and --idle: the thresholds of the diagnosis' performance rules (summary, export, diagnose)."""
    fn = click.option("--idle", "idle", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
                      help="No PDU for this many seconds inside an association is reported as a long gap.")(fn)
    return click.option("--slow", "slow", type=click.FloatRange(0, min_open=True), default=5.0, show_default=True,
                        help="A response later than this many seconds is reported as slow.")(fn)


def run_diagnosed(capture: str, an: Analyzer, *, slow: float, idle: float) -> tuple[list, list]:
    """Read a whole capture, diagnosing as it goes without keeping PDUs: (capture notices, findings).

    The findings are those of ``dicomsniff diagnose``: the model's, refined, plus the rules';
    capture-level notices become findings of association 0. PDUs reach the rules only through PduFacts
    (PduWatch) and the association's counters, so ``an`` may count quiet PDUs (``quiet_pdus``).
    """
    from .reading import read_events
    from .model.diagnosis import PduWatch, diagnose as run_rules
    from .notice import Notice
    from .output.diagnose import notice_findings
    watch = PduWatch()
    notices = []
    # What exists now (the modules imported, mostly) lives as long as the process: kept out of the collector's
    # traversals while the capture is read (a full collection on a lossy gigabyte: 12 ms of 26), back in after.
    gc.freeze()
    try:
        for ev in read_events(sys.stdin.buffer if capture == "-" else capture, an):
            if type(ev) is Notice:
                if ev.where in ("capture", "tcp"):
                    notices.append(ev)
            else:
                watch.event(ev)
        findings = run_rules(an.associations, slow_s=slow, idle_s=idle, watch=watch) + notice_findings(notices)
    finally:
        gc.unfreeze()
    return notices, findings


def usage_line(e: click.ClickException) -> str:
    """A Click error as ``dicomsniff: <what>: <why>`` on one line (Click's own is a four-line block)."""
    text = e.format_message() if isinstance(e, click.MissingParameter) else e.message
    why = " ".join(str(text).split()).rstrip(".")
    param = getattr(e, "param", None)
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.BadParameter) and not isinstance(e, click.MissingParameter) and param is not None:
        what = (param.opts[0] if getattr(param, "opts", None) and param.param_type_name == "option"
                else (param.human_readable_name or "").upper())
        return f"dicomsniff: {what}: {why}"
    if isinstance(e, click.UsageError):
        cmd = ctx.info_name if ctx is not None and ctx.parent is not None else None
        where = f"dicomsniff {cmd}" if cmd else "dicomsniff"
        return f"dicomsniff: {cmd or 'usage'}: {why} (see '{where} --help')"
    return f"dicomsniff: {why}"


class CommandGroup(click.Group):
    """The command group, with every usage error on one line of stderr and exit status 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            click.echo("dicomsniff: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":       # no arguments at all: the help, as Click shows it
                e.show()
            else:
                click.echo(safe_text(usage_line(e)), err=True)
            sys.exit(e.exit_code)
        except OSError as e:        # a broken pipe while Click itself writes (e.g. --help | head)
            if e.errno != errno.EPIPE:
                raise
            sys.exit(0)
        sys.exit(rv if isinstance(rv, int) else 0)      # an int is the status of ctx.exit(n)


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dicomsniff")
def main() -> None:
    """dicomsniff: see what two DICOM systems said to each other, and why they did not get along."""


@main.command()
@captures_argument
@click.option("-V", "--verbose", is_flag=True, help="Print each PDU's whole field tree and each DIMSE message.")
@port_option
@friendly_errors
def dump(capture: str, verbose: bool, ports: tuple[int, ...]) -> None:
    """One line per DICOM PDU: frame, time, source → destination, PDU and summary."""
    from .pipeline import Analyzer
    from .reading import read_events
    from .output.dump import write_dump
    # stream_data: a command with a data set is known as its command set ends (DataStarted), so its
    # line need not wait for the whole data set (output/dump.py)
    an = Analyzer(ports=_ports(ports), keep_pdus=False, decode_data=verbose, stream_data=True)
    path = sys.stdin.buffer if capture == "-" else capture
    out = sys.stdout
    write = lambda line: out.write(line + "\n")  # noqa: E731
    tls_lines = [0]

    def with_tls(events):           # DICOM over TLS (issue 15): a connection not decrypted gets its TLS lines
        from .output.describe import tls_dump_lines
        from .pipeline import AssociationClosed
        for ev in events:
            yield ev
            if type(ev) is AssociationClosed:
                for line in tls_dump_lines(ev.association, an.first_ts or 0):
                    write(line)
                    tls_lines[0] += 1

    n = write_dump(with_tls(read_events(path, an)), write, verbose=verbose, t0=lambda: an.first_ts or 0)
    if n == 0 and not tls_lines[0]:
        click.echo("dicomsniff: no DICOM traffic found"
                   + ("" if ports else " (use --port N if DICOM runs on a known port)"), err=True)


def collect(capture: str, an: Analyzer) -> list:
    """Run a whole capture; returns the capture-level notices (stream ones live in associations)."""
    from .reading import read_events
    from .notice import Notice
    from .capture.captureset import input_arg
    capture = input_arg([capture]) if isinstance(capture, str) else capture     # a directory or glob: a set
    path = sys.stdin.buffer if capture == "-" else capture
    return [ev for ev in read_events(path, an) if type(ev) is Notice and ev.where in ("capture", "tcp")]


def console_for(no_color: bool):
    from rich.console import Console
    tty = sys.stdout.isatty()
    return Console(no_color=no_color, highlight=False, markup=False, emoji=False,
                   width=None if tty else 200, soft_wrap=not tty)   # piped: a line is a line


@main.command()
@captures_argument
@click.option("--no-color", is_flag=True, help="Plain text even on a terminal.")
@click.option("--max-exchanges", type=click.IntRange(1), default=1000, show_default=True,
              help="Exchanges listed per association; later ones are counted by outcome (bounds memory).")
@threshold_options
@port_option
@friendly_errors
def summary(capture: str, no_color: bool, max_exchanges: int, slow: float, idle: float,
            ports: tuple[int, ...]) -> None:
    """Associations, their negotiation, every request with its outcome, and the diagnosis findings.

    The findings are those of `dicomsniff diagnose` (one line each, with frames and what to check).
    """
    from .pipeline import Analyzer
    from .ul.events import BRIEF_SPANS
    from .output.summary import print_summary
    an = Analyzer(ports=_ports(ports), keep_pdus=False, keep_limit=64 << 10, keep_exchanges=max_exchanges,
                  data_span_limit=BRIEF_SPANS, quiet_pdus=True)
    notices, findings = run_diagnosed(capture, an, slow=slow, idle=idle)
    print_summary(console_for(no_color), an.associations, an.first_ts or 0, notices,
                  findings=[f for f in findings if f.association != 0])


@main.command()
@captures_argument
@click.option("-o", "--output", "output", required=True, type=click.Path(allow_dash=True),
              help="JSON file to write ('-' for standard output).")
@click.option("--jsonl", is_flag=True,
              help="One JSON record per line, written as the capture is read (any capture size).")
@click.option("--no-trees", is_flag=True, help="Leave out the per-PDU field trees.")
@threshold_options
@port_option
@friendly_errors
def export(capture: str, output: str, jsonl: bool, no_trees: bool, slow: float, idle: float,
           ports: tuple[int, ...]) -> None:
    """Decoded sessions as JSON (schema dicomsniff/schema/session-v1.json; DICOM JSON model data sets).

    Top-level findings[] (--jsonl: "finding" records at the end) are those of `dicomsniff diagnose`.
    """
    from .pipeline import Analyzer
    from .reading import read_events
    from .output import json_export as J
    path = sys.stdin.buffer if capture == "-" else capture
    # PDUs are not kept, and each association is diagnosed and dropped when it ends; the exchanges kept
    # for its diagnosis are capped (later ones are counted by outcome). The document spools its records.
    # --no-trees: the middle P-DATA-TFs of a data set are counted, not emitted (quiet_pdus); the analyzer writes
    # their lines into Analyzer.quiet_out (from J.quiet_parts), written before the next event's record.
    an = Analyzer(ports=_ports(ports), keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=256 << 10,
                  quiet_pdus=no_trees, quiet_out=[] if no_trees else None,
                  quiet_parts=J.quiet_parts if no_trees else None)
    from .capture.captureset import input_files, input_name
    with sigterm_interrupts(), output_file(output, input_files(capture), binary=False) as out:
        write = out.write
        if jsonl:
            J.write_jsonl(read_events(path, an), lambda line: write(line + "\n"), input_name(capture), an,
                          trees=not no_trees, slow_s=slow, idle_s=idle)
        else:
            J.write_document_stream(read_events(path, an), write, input_name(capture), an, trees=not no_trees,
                                    slow_s=slow, idle_s=idle,      # spooled beside the output (not in a RAM /tmp)
                                    spool_dir=getattr(out, "folder", None))


@contextlib.contextmanager
def sigterm_interrupts():
    """SIGTERM ends the command as Ctrl-C does (KeyboardInterrupt), so unfinished outputs are cleaned up."""
    def on_term(signum, frame):
        raise KeyboardInterrupt
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stdout:
    """Standard output behind the same interface as :class:`~dicomsniff.safeio.AtomicOutput`."""

    def __init__(self, binary: bool):
        self.file = sys.stdout.buffer if binary else sys.stdout

    def write(self, data) -> int:
        return self.file.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.file.flush()


def output_file(path: str, inputs, *, binary: bool):
    """Where a command's output goes: ``-`` is standard output; a file is written beside its target and
    renamed into place only when the command succeeds (never the input itself; see :mod:`dicomsniff.safeio`)."""
    from .safeio import open_output, refuse_same_file
    if path == "-":
        return _Stdout(binary)
    refuse_same_file(inputs, path)
    return open_output(path, binary=binary)


def _open_live(interface: str, bpf: str | None, snaplen: int | None, write_path: str | None):
    """(live source, pcap writer or None); a capture that cannot start is one line and exit status 2."""
    from .capture.live import LiveCaptureError, open_live
    try:
        source = open_live(interface, bpf) if snaplen is None else open_live(interface, bpf, snaplen)
    except LiveCaptureError as e:
        click.echo(f"dicomsniff: {e}", err=True)
        sys.exit(2)
    if not write_path:
        return source, None
    from .capture.pcapwriter import PcapWriter
    try:
        return source, PcapWriter(write_path, source.linktype, source.snaplen)
    except BaseException:
        source.close()
        raise


def _ring_options(rotate: tuple[str, ...], keep: int | None, write_path: str | None) -> dict | None:
    """--rotate/--keep checked before the capture starts: {"bytes": N, "seconds": S} or None."""
    from .capture.pcapwriter import RotateError, parse_rotate
    if not rotate:
        if keep is not None:
            raise click.UsageError("--keep goes with --rotate")
        return None
    if not write_path or write_path == "-":
        raise click.UsageError("--rotate needs -w DIR (a directory, or DIR/NAME.pcap for NAME_NNNNN_... files)")
    out: dict = {}
    for text in rotate:
        try:
            kind, value = parse_rotate(text)
        except RotateError as e:
            raise click.BadParameter(str(e), param_hint="--rotate") from None
        out[kind] = min(value, out.get(kind, value))
    return out


def _ring_writer(source, write_path: str, snaplen: int, ring: dict, keep: int | None):
    from .capture.pcapwriter import RingWriter
    try:
        return RingWriter(write_path, source.linktype, snaplen, max_bytes=ring.get("bytes"),
                          max_seconds=ring.get("seconds"), keep=keep)
    except BaseException:
        source.close()
        raise


STREAM_EXCHANGES = 200
      # exchanges (with their messages) an open association keeps for export --jsonl


@main.command()
@click.option("-i", "--interface", required=True, help="Interface to capture on (e.g. eth0, lo, any).")
@click.option("-f", "--filter", "bpf", default=None, help="Capture filter, tcpdump syntax (e.g. 'tcp port 104').")
@click.option("-w", "--write", "write_path", type=click.Path(), default=None,
              help="Also save every captured packet to this pcap file.")
@click.option("--jsonl", is_flag=True, help="JSON lines instead of text (closed associations as export records).")
@click.option("-c", "--count", type=click.IntRange(1), default=None, help="Stop after this many packets.")
@click.option("--duration", type=click.FloatRange(0, min_open=True), default=None, help="Stop after this many seconds.")
@click.option("-s", "--snaplen", type=click.IntRange(64, 262144), default=262144, show_default=True,
              help="Bytes kept of each packet.")
@click.option("--rotate", "rotate", multiple=True, metavar="SIZE|DURATION",
              help="With -w DIR: a ring buffer of files PREFIX_NNNNN_YYYYMMDDhhmmss.pcap, a new one when the current "
                   "would pass SIZE (100MB, 1GiB) or is DURATION old (30s, 15min, 1h, 1d); repeatable (whichever first).")
@click.option("--keep", type=click.IntRange(1), default=None, metavar="N",
              help="With --rotate: keep the N newest complete files, delete older ones of this run.")
@port_option
@friendly_errors
def capture(interface: str, bpf: str | None, write_path: str | None, jsonl: bool, count: int | None,
            duration: float | None, snaplen: int, rotate: tuple[str, ...], keep: int | None,
            ports: tuple[int, ...]) -> None:
    """Capture live traffic and print each association event and exchange as it happens.

    Ctrl-C (or SIGTERM) stops: the pcap is completed, open associations are
    reported as incomplete, and a last line counts packets and kernel drops.
    """
    from .pipeline import Analyzer
    from .output.live_text import run_live
    out = sys.stdout

    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    ring = _ring_options(rotate, keep, write_path)
    source, writer = _open_live(interface, bpf, snaplen, None if ring else write_path)
    if ring:
        writer = _ring_writer(source, write_path, snaplen, ring, keep)
    an = Analyzer(ports=_ports(ports), keep_pdus=False, keep_limit=256 << 10)
    run_live(source, an, write, jsonl=jsonl, writer=writer, count=count, duration=duration,
             err=lambda line: click.echo(line, err=True))


@main.command("export-objects")
@captures_argument
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--all", "all_data_sets", is_flag=True,
              help="Also export identifiers (C-FIND/C-GET/C-MOVE), C-FIND responses and N-* data sets.")
@click.option("--association", "associations", type=click.IntRange(1), multiple=True,
              help="Only this association number, as in 'summary' (repeatable).")
@click.option("--ae", "aes", multiple=True, metavar="TITLE",
              help="Only associations with this calling or called AE title (case-insensitive; repeatable).")
@click.option("--sop-class", "sop_classes", multiple=True, metavar="UID-OR-NAME",
              help="Only this SOP class: a UID, or part of its name such as 'CT Image' (repeatable).")
@click.option("--list", "list_only", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--incomplete", is_flag=True,
              help="Also write objects cut by a gap, an abort or the end of the capture, as NAME.dcm.partial.")
@click.option("--force", is_flag=True, help="Overwrite existing files (by default they are skipped).")
@port_option
@friendly_errors
def export_objects(capture: str, directory: str, all_data_sets: bool, associations: tuple[int, ...],
                   aes: tuple[str, ...], sop_classes: tuple[str, ...], list_only: bool, incomplete: bool,
                   force: bool, ports: tuple[int, ...]) -> None:
    """Write every C-STORE data set in CAPTURE to DIRECTORY as a DICOM Part-10 file.

    The data set bytes are exactly those on the wire, behind a file meta
    naming the negotiated transfer syntax. Objects stream to disk, so any
    object size works. Names stay inside DIRECTORY whatever the UIDs hold;
    existing files are kept unless --force, and symbolic links always.
    """
    from .pipeline import Analyzer
    from .reading import read_events
    from .output import export_objects as X
    from .capture.captureset import input_files
    options = X.ExportOptions(all_data_sets=all_data_sets, associations=frozenset(associations), aes=aes,
                              sop_classes=sop_classes, list_only=list_only, incomplete=incomplete, force=force)
    # Nothing kept per PDU or exchange: memory does not grow with the objects an association carries.
    an = Analyzer(ports=_ports(ports), keep_pdus=False, stream_data=True, decode_data=False, keep_exchanges=0)
    path = sys.stdin.buffer if capture == "-" else capture
    box: list = []
    left_out: dict[str, int] = {}
    err = lambda line: click.echo(line, err=True)  # noqa: E731
    try:
        with sigterm_interrupts():
            records = X.export_objects(read_events(path, an, reader_out=box), directory, options, say=err,
                                       reader_box=box, progress=sys.stderr.isatty(), forget=an.forget,
                                       left_out=left_out, protect=tuple(input_files(capture)))
    except OSError as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        click.echo(f"dicomsniff: {e.filename or directory}: {e.strerror or e}", err=True)
        sys.exit(2)
    out = sys.stdout
    if list_only:
        for line in X.list_lines(records):
            out.write(line + "\n")
    for line in X.summary_lines(records, directory, options, left_out):
        out.write(line + "\n")


@main.command()
@click.argument("capture", nargs=-1, metavar="[CAPTURE]", type=click.Path(allow_dash=True))
@threshold_options
@click.option("--json", "as_json", is_flag=True, help="Findings as JSON (for tools) instead of text.")
@click.option("--no-color", is_flag=True, help="Plain text even on a terminal.")
@click.option("--list-rules", "list_rules", is_flag=True,
              help="Print the catalogue of findings (code, severity, group, meaning) and exit; with CAPTURE as a"
                   " code (or its start), only those.")
@port_option
@friendly_errors
def diagnose(capture: str | None, slow: float, idle: float, as_json: bool, no_color: bool, list_rules: bool,
             ports: tuple[int, ...]) -> None:
    """Why two DICOM systems did not get along: findings per association, with evidence and a hint.

    Each finding names its association, the frames that show it, and what to
    check; repeats of one cause are one line with a count. Exit status: 0 no
    findings (or notes only), 1 warnings, 2 errors. An unreadable file also
    exits with 2, with a one-line message on stderr. --list-rules prints every
    finding code the diagnosis can report.
    """
    from .pipeline import Analyzer
    from .ul.events import BRIEF_SPANS
    from .output.diagnose import diagnosis_json, exit_status, print_diagnosis, print_rules, rules_json
    capture = (capture[0] if capture else None) if list_rules else _capture_set_arg(None, None, capture) or None
    if list_rules:
        if as_json:
            click.echo(json_text(rules_json(capture), indent=2))
        else:
            print_rules(console_for(no_color), capture)
        return
    if capture is None:
        raise click.UsageError("Missing argument 'CAPTURE'.")
    an = Analyzer(ports=_ports(ports), keep_pdus=False, keep_limit=256 << 10, data_span_limit=BRIEF_SPANS,
                  quiet_pdus=True)
    _notices, findings = run_diagnosed(capture, an, slow=slow, idle=idle)
    from .capture.captureset import input_name
    if as_json:
        click.echo(json_text(diagnosis_json(input_name(capture), an.associations, findings, slow, idle), indent=2))
    else:
        print_diagnosis(console_for(no_color), input_name(capture), an.associations, findings, slow, idle)
    sys.exit(exit_status(findings))


@main.command()
@captures_argument
@click.option("-o", "--output", "output", required=True, type=click.Path(allow_dash=True),
              help="HTML file to write ('-' for standard output).")
@click.option("--max-associations", type=click.IntRange(1), default=200, show_default=True,
              help="Associations drawn in detail (ladder, negotiation, sets); up to 100 more with errors.")
@click.option("--max-arrows", type=click.IntRange(1), default=300, show_default=True,
              help="Ladder arrows (PDUs and messages) drawn per association; the rest are counted.")
@click.option("--max-sets", type=click.IntRange(0), default=60, show_default=True,
              help="Messages per association whose command/data sets are included.")
@threshold_options
@port_option
@friendly_errors
def report(capture: str, output: str, max_associations: int, max_arrows: int, max_sets: int, slow: float,
           idle: float, ports: tuple[int, ...]) -> None:
    """One self-contained HTML page of CAPTURE for a support ticket (no network needed to view it).

    Associations on a time axis, each one's ladder as an SVG sequence diagram,
    the negotiation, the findings of `dicomsniff diagnose` with frames and hints,
    response-time statistics and the command/data sets. Warns on stderr when the
    capture carries patient data that was not anonymized (`dicomsniff anonymize`).
    """
    from .pipeline import Analyzer
    from .reading import read_events
    from .output.report import Limits, write_report
    from .ul.events import BRIEF_SPANS
    from .capture.captureset import input_files, input_name
    path = sys.stdin.buffer if capture == "-" else capture
    size = None
    if capture != "-":
        with contextlib.suppress(OSError):
            size = sum(os.path.getsize(p) for p in input_files(capture))
    an = Analyzer(ports=_ports(ports), keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=64 << 10,
                  data_span_limit=BRIEF_SPANS)
    limits = Limits(associations=max_associations, arrows=max_arrows, sets=max_sets)
    with sigterm_interrupts(), output_file(output, input_files(capture), binary=False) as out:
        patients = write_report(read_events(path, an), out.write, input_name(capture), an, slow_s=slow, idle_s=idle,
                                limits=limits, spool_dir=getattr(out, "folder", None), capture_size=size)
    if patients.warning:
        click.echo(f"dicomsniff: warning: {safe_text(input_name(capture))}: {patients.warning}", err=True)


@main.command()
@click.argument("capture", required=False, type=click.Path())
@click.option("--live", is_flag=True, help="Capture from an interface instead of reading a file.")
@click.option("-i", "--interface", default=None, help="Interface for --live (e.g. eth0, lo, any).")
@click.option("-f", "--filter", "bpf", default=None, help="Capture filter for --live, tcpdump syntax.")
@click.option("-w", "--write", "write_path", type=click.Path(), default=None,
              help="With --live: also save every captured packet to this pcap file.")
@click.option("-g", "--goto", "goto", type=click.IntRange(1), default=None, metavar="FRAME",
              help="Open with the message (or PDU) of this frame selected, as Wireshark's -g.")
@click.option("-Y", "--display-filter", "display_filter", default=None, metavar="EXPR",
              help="Open with this display filter applied, as Wireshark's -Y (e.g. 'status != success').")
@threshold_options
@port_option
@friendly_errors
def view(capture: str | None, live: bool, interface: str | None, bpf: str | None, write_path: str | None,
         goto: int | None, display_filter: str | None, slow: float, idle: float, ports: tuple[int, ...]) -> None:
    """Terminal UI: associations, each one's messages as a ladder, field tree and bytes.

    Keys: arrows or j/k, tab between panes, enter to open, / filter, ctrl+f search,
    c contexts, f findings, ctrl+p commands, ? help, q quit.
    """
    if display_filter is not None:
        from .output.tui.filter import check
        problem = check(display_filter)
        if problem is not None:
            click.echo(f"dicomsniff: -Y {safe_text(display_filter)}: {safe_text(problem)}", err=True)
            sys.exit(2)
    from .output.tui.app import ViewerApp
    opening = {"goto": goto, "display_filter": display_filter}
    if live:
        if capture:
            raise click.UsageError("give either a CAPTURE file or --live -i IFACE, not both")
        if not interface:
            raise click.UsageError("--live needs -i IFACE")
        source, writer = _open_live(interface, bpf, None, write_path)
        app = ViewerApp(live=source, writer=writer, ports=ports, slow_s=slow, idle_s=idle, **opening)
        app.run()
        if writer is not None:
            click.echo(f"dicomsniff: capture saved to {write_path} ({writer.frames} packets)", err=True)
        return
    if not capture:
        raise click.UsageError("give a CAPTURE file (or --live -i IFACE)")
    if interface or bpf or write_path:
        raise click.UsageError("-i, -f and -w go with --live")
    from .capture.reader import open_capture
    from .capture.captureset import input_arg, open_capture_set
    capture = input_arg([capture])          # a directory or a (quoted) glob: a capture set
    reader = open_capture(capture) if isinstance(capture, str) else open_capture_set(capture)
    app = ViewerApp(capture, reader=reader, ports=ports, slow_s=slow, idle_s=idle, **opening)
    app.run()
    if app.error:
        click.echo(f"dicomsniff: {app.error}", err=True)
        sys.exit(2)


def _split_target(target: str) -> tuple[str, int | None]:
    """``FILE#N`` → (FILE, N); a FILE whose own name has a '#' still works when it exists."""
    from .output.diff import TargetError, split_target
    try:
        return split_target(target)
    except TargetError as e:
        click.echo(f"dicomsniff: {e}", err=True)
        sys.exit(2)


def _associations_of(target: str, ports: tuple[int, ...]) -> list:
    from .pipeline import Analyzer
    from .ul.events import BRIEF_SPANS
    path, number = _split_target(target)
    an = Analyzer(ports=_ports(ports), keep_pdus=False, keep_limit=256 << 10, data_span_limit=BRIEF_SPANS)
    collect(path, an)
    if number is None:
        return an.associations
    chosen = [a for a in an.associations if a.number == number]
    if not chosen:
        click.echo(f"dicomsniff: {path} has no association #{number} (it has {len(an.associations)};"
                   " numbers as in `dicomsniff summary`)", err=True)
        sys.exit(2)
    return chosen


@main.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="The comparison as JSON (for tools).")
@click.option("--all", "show_all", is_flag=True, help="Show equal items too, not only differences.")
@click.option("--no-color", is_flag=True, help="Plain text even on a terminal.")
@port_option
@friendly_errors
def diff(a: str, b: str, as_json: bool, show_all: bool, no_color: bool, ports: tuple[int, ...]) -> None:
    """Compare two captures, or two associations (CAPTURE#N, N as in `summary`).

    Side by side: negotiation (AE titles, contexts and transfer syntaxes, max
    PDU, implementation, user information, roles, user identity), then the
    DIMSE exchanges aligned by command: command set and data set/identifier
    elements (added +, removed -, changed ~, VR) and statuses. Captures with
    several associations are compared association by association in order.
    Exit status: 0 no differences, 1 differences, 2 trouble (e.g. unreadable file).
    """
    from .output.diff import diff_json, pair_up, print_diff
    aa = _associations_of(a, ports)
    bb = _associations_of(b, ports)
    pairs, notes = pair_up(aa, bb)
    if not aa or not bb:
        notes.insert(0, "no DICOM associations in " + " and ".join(x for x, y in ((a, aa), (b, bb)) if not y))
    if as_json:
        click.echo(json_text(diff_json(a, b, pairs, notes, show_all), indent=2))
    else:
        print_diff(console_for(no_color), a, b, pairs, notes, show_all)
    sys.exit(1 if any(p.differences for p in pairs) or len(aa) != len(bb) else 0)


@main.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...", type=click.Path())
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Folder of the Parquet tables (created; rerun on it to add new files).")
@click.option("--workers", type=click.IntRange(0), default=None,
              help="Dask worker processes of the local cluster (default: all cores; 0: no Dask, in this process).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help="Index on this Dask distributed cluster instead of a local one.")
@click.option("--max-group", "max_group", type=click.IntRange(1), default=2000, show_default=True, metavar="MB",
              help="Files sharing streams are decoded together up to this size; beyond, a group starts anew.")
@click.option("--schema", "show_schema", is_flag=True, help="Print the tables' schema and exit.")
@threshold_options
@port_option
@friendly_errors
def tables(captures: tuple[str, ...], output: str, workers: int | None, scheduler: str | None, max_group: int,
           show_schema: bool, slow: float, idle: float, ports: tuple[int, ...]) -> None:
    """Index captures (files, directories, globs) into Parquet tables, incrementally (docs/tables.md).

    Tables: associations, contexts, messages, findings, objects, files; partitioned by date. Files already
    indexed (same content hash) are skipped; associations cut at the end of the last file are completed
    when the next file arrives.
    """
    from .tables.build import TablesError, build
    if show_schema:
        from .tables.schema import schema_text
        click.echo(schema_text(), nl=False)
        return
    try:
        rep = build(captures, output, workers=workers, scheduler=scheduler, ports=tuple(ports), slow_s=slow,
                    idle_s=idle, max_group_bytes=max_group * 1_000_000)
    except TablesError as e:
        click.echo(f"dicomsniff: {safe_text(e)}", err=True)
        sys.exit(2)
    for err in rep.errors:
        click.echo(f"dicomsniff: {safe_text(err)} (skipped)", err=True)
    rows = ", ".join(f"{n} {t}" for t, n in rep.rows.items() if t != "files")
    mb = rep.bytes_indexed / 1e6
    click.echo(f"{rep.files_new} new file(s) of {rep.files_seen} ({rep.files_skipped} already indexed); "
               f"{rep.groups_written} group(s) written ({rep.groups_reopened} reopened"
               f"{f', {rep.groups_replaced} replaced' if rep.groups_replaced else ''}){': ' + rows if rows else ''}; "
               f"{mb:.1f} MB in {rep.seconds:.1f} s"
               f"{f' on {rep.workers} Dask worker(s)' if rep.workers else ''} -> {safe_text(output)}")
    sys.exit(1 if rep.errors else 0)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.argument("sql", required=False)
@click.option("--named", type=click.Choice(["failures-by-ae", "latency-by-scp", "aborts", "slow-responses",
                                            "busiest-hours"]), default=None, help="A shipped query.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--slow", type=click.FloatRange(0), default=5.0, show_default=True,
              help="slow-responses: answered after this many seconds or more.")
@click.option("--list", "list_named", is_flag=True, help="List the named queries and their SQL.")
@friendly_errors
def query(directory: str, sql: str | None, named: str | None, fmt: str, slow: float, list_named: bool) -> None:
    """Run SQL (DuckDB, embedded) over the tables in DIRECTORY: views associations, contexts, messages,
    findings, objects, files."""
    from .tables.build import MISSING, TablesError, require
    try:
        require()
    except TablesError:
        click.echo(f"dicomsniff: {MISSING}", err=True)
        sys.exit(2)
    from .tables import query as Q
    if list_named:
        for name, (what, text, _) in Q.NAMED.items():
            click.echo(f"{name}: {what}\n{chr(10).join('    ' + x.strip() for x in text.strip().splitlines())}\n")
        return
    if (sql is None) == (named is None):
        click.echo("dicomsniff: query: give either SQL or --named NAME (see 'dicomsniff query --help')", err=True)
        sys.exit(2)
    try:
        cols, rows = Q.run(directory, sql, named=named, params={"slow": slow})
    except Q.QueryError as e:
        click.echo(f"dicomsniff: {safe_text(e)}", err=True)
        sys.exit(2)
    click.echo(Q.render(cols, rows, fmt, terminal=sys.stdout.isatty()), nl=False)


@main.command()
@click.argument("capture", type=click.Path(dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("--profile", type=click.Choice(["basic", "retain-uids", "retain-dates"]), default="basic",
              show_default=True, help="PS3.15 Annex E: the Basic Profile, or it with the Retain UIDs or the"
                                      " Retain Longitudinal Temporal Information (Full Dates) option.")
@click.option("--keep-pixels", is_flag=True, help="Keep Pixel Data (by default: zeros of the same length).")
@click.option("--map", "map_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the original -> replacement table (JSON) to FILE: for the hospital to keep, never to send.")
@click.option("--ips", is_flag=True, help="Also replace IP and MAC addresses, consistently.")
@click.option("--seed", default=None, metavar="TEXT",
              help="Derive replacements from TEXT instead of a random secret (reproducible output; anyone who"
                   " knows TEXT can test guesses of original UIDs against the output).")
@port_option
@friendly_errors
def anonymize(capture: str, output: str, profile: str, keep_pixels: bool, map_path: str | None, ips: bool,
              seed: str | None, ports: tuple[int, ...]) -> None:
    """Write OUTPUT: CAPTURE with the DICOM de-identified (PS3.15 Annex E) and still analyzable.

    Data sets and command sets in P-DATA get the profile; UIDs, names and IDs are replaced consistently
    across the capture, dates shifted by one offset. PDV/PDU lengths, TCP sequence numbers, IP lengths and
    checksums are rewritten, timing, ports, flags and gaps kept; OUTPUT has the format of CAPTURE (pcap
    or pcapng). What cannot be decoded is zeroed and listed.
    """
    import hashlib
    from .anonymize import Options, anonymize as run, describe
    from .safeio import refuse_same_file
    refuse_same_file([capture], output)
    if map_path is not None:
        refuse_same_file([capture, output], map_path)
    options = Options(profile=profile, keep_pixels=keep_pixels)
    if seed is not None:
        options.secret = hashlib.sha256(seed.encode()).digest()
    report_ = run(capture, output, options, ports=_ports(ports), ips=ips, map_path=map_path)
    for line in describe(report_, capture, output):
        click.echo(line, err=True)


def _tls_keylog_option(ctx, param, value) -> None:
    """--tls-keylog FILE (repeatable): NSS key logs every analyzer of this run decrypts TLS with (issue 15);
    none given: $SSLKEYLOGFILE (set each run, so an earlier in-process run's files do not linger)."""
    from .tls.keylog import configure
    configure(value)


def _with_tls_keylog(cmd):
    """--tls-keylog on a command (issue 15): added to its params, so no command's signature changes."""
    if cmd is not None and not any(p.name == "tls_keylog" for p in cmd.params):
        cmd.params.append(click.Option(
            ["--tls-keylog", "tls_keylog"], multiple=True, expose_value=False, callback=_tls_keylog_option,
            type=click.Path(exists=True, dir_okay=False, readable=True), metavar="FILE",
            help="Decrypt DICOM over TLS with this NSS key log (SSLKEYLOGFILE; repeatable). Without it:"
                 " $SSLKEYLOGFILE, and secrets embedded in a pcapng."))
    return cmd


for _cmd in list(main.commands.values()):
    _with_tls_keylog(_cmd)
_get_command = main.get_command
main.get_command = lambda ctx, name: _with_tls_keylog(_get_command(ctx, name))   # commands added later too


if __name__ == "__main__":
    main()
