"""Ring buffers (issue 17 item 2) without a live interface: real captures replayed through ``run_live``
into a :class:`RingWriter`, then read back as a capture set.

The live end-to-end runs (DCMTK on loopback, as root) are in ``test_capture_rotate_live.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dicomsniff.capture.captureset import expand_inputs, open_capture_set
from dicomsniff.capture.pcapwriter import RingWriter, RotateError, parse_rotate, ring_name
from dicomsniff.capture.reader import open_capture
from dicomsniff.output.live_text import run_live
from dicomsniff.pipeline import Analyzer

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
RING = re.compile(r"^(?P<prefix>.+)_(?P<n>\d{5})_(?P<stamp>\d{14})\.pcap$")


class Replay:
    """A live source (capture.live.LiveSource's interface) replaying capture files' frames."""

    def __init__(self, *paths: Path, pause: float = 0.0):
        self.frames = [f for p in paths for f in open_capture(str(p))]
        for i, f in enumerate(self.frames, 1):
            f.number, f.file_offset = i, None
        self.linktype, self.snaplen, self.notices, self.pause = 1, 262144, [], pause

    def iter_frames(self, stop, idle=False):
        for f in self.frames:
            if self.pause:
                time.sleep(self.pause)
                yield None
            yield f

    def stats(self):
        return (len(self.frames), 0)

    def close(self):
        pass


def frames(reader) -> list[tuple]:
    with reader:
        return [(f.number, f.ts_ns, bytes(f.data), f.orig_len) for f in reader]


def ring_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if RING.match(p.name))


def test_parse_rotate_sizes_and_durations():
    assert parse_rotate("100MB") == ("bytes", 100_000_000)
    assert parse_rotate("1GiB") == ("bytes", 1 << 30)
    assert parse_rotate("20kB") == ("bytes", 20_000)
    assert parse_rotate("30s") == ("seconds", 30)
    assert parse_rotate("15min") == ("seconds", 900)
    assert parse_rotate("2h") == ("seconds", 7200)
    assert parse_rotate("1d") == ("seconds", 86400)
    for bad in ("100", "10X", "", "5B", "-1h", "0s"):
        with pytest.raises(RotateError):
            parse_rotate(bad)
    assert ring_name("dicomsniff", 7, 0).startswith("dicomsniff_00007_") and ring_name("x", 123456, 0)[2:8] == "123456"


def test_rotation_by_size_loses_nothing_and_reads_back_as_the_capture(tmp_path):
    src = [CAPTURES / "store.pcap", CAPTURES / "move.pcap", CAPTURES / "get.pcap"]
    replay = Replay(*src)
    ring = tmp_path / "ring"
    writer = RingWriter(ring, 1, max_bytes=20_000)
    lines: list[str] = []
    run_live(replay, Analyzer(keep_pdus=False), lines.append, writer=writer)
    files = ring_files(ring)
    assert len(files) >= 5 and writer.files == len(files)
    assert [int(RING.match(p.name)["n"]) for p in files] == list(range(1, len(files) + 1))
    assert all(p.stat().st_size <= 20_000 for p in files)
    assert not [p for p in ring.iterdir() if p.name.endswith(".tmp")]
    # text mode: one line per completed file, then the totals
    saved = [ln for ln in lines if ln.startswith("saved ")]
    assert len(saved) == len(files) and f"written to {ring} ({len(files)} files)" in lines[-1]
    # nothing lost across rotations: the set is the replayed frames, numbered as they were captured
    back = frames(open_capture_set(expand_inputs([ring])))
    assert back == [(f.number, f.ts_ns, bytes(f.data), f.orig_len) for f in replay.frames]
    # and decodes as the originals: association by association
    from click.testing import CliRunner
    from dicomsniff.cli import main
    got = json.loads(CliRunner().invoke(main, ["export", str(ring), "-o", "-", "--no-trees"]).output)
    want = [json.loads(CliRunner().invoke(main, ["export", str(p), "-o", "-", "--no-trees"]).output)
            for p in src]
    key = lambda a: (a["calling_ae"], a["called_ae"], a["state"], [(m["command"], m["status"]) for m in a["messages"]])  # noqa: E731
    assert [key(a) for a in got["associations"]] == [key(a) for d in want for a in d["associations"]]


def test_keep_deletes_the_oldest_and_numbering_continues(tmp_path):
    replay = Replay(CAPTURES / "get.pcap")
    lines: list[str] = []
    writer = RingWriter(tmp_path, 1, max_bytes=10_000, keep=2)
    run_live(replay, Analyzer(keep_pdus=False), lines.append, writer=writer, jsonl=True)
    files = ring_files(tmp_path)
    assert len(files) == 2 and writer.files > 2 and writer.deleted == writer.files - 2
    numbers = [int(RING.match(p.name)["n"]) for p in files]
    assert numbers == [writer.files - 1, writer.files]              # the newest two
    records = [json.loads(x) for x in lines]
    file_records = [r for r in records if r["record"] == "file"]
    assert len(file_records) == writer.files
    deleted = [Path(d).name for r in file_records for d in r["deleted"]]
    assert len(deleted) == writer.deleted and not set(deleted) & {p.name for p in files}
    assert sum(r["frames"] for r in file_records) == len(replay.frames) == records[-1]["frames"]
    # a second run in the same directory numbers on from the highest file there
    writer = RingWriter(tmp_path, 1, max_bytes=10_000, keep=2)
    run_live(Replay(CAPTURES / "echo.pcap"), Analyzer(keep_pdus=False), lambda _: None, writer=writer)
    assert int(RING.match(ring_files(tmp_path)[-1].name)["n"]) == numbers[-1] + 1


def test_rotation_by_duration_and_a_named_prefix(tmp_path):
    replay = Replay(CAPTURES / "echo.pcap", CAPTURES / "find_mwl.pcap", pause=0.02)
    writer = RingWriter(tmp_path / "site.pcap", 1, max_seconds=0.15)
    run_live(replay, Analyzer(keep_pdus=False), lambda _: None, writer=writer)
    files = ring_files(tmp_path)
    assert len(files) >= 2 and all(RING.match(p.name)["prefix"] == "site" for p in files)
    assert frames(open_capture_set(files)) == [(f.number, f.ts_ns, bytes(f.data), f.orig_len)
                                               for f in replay.frames]


def test_jsonl_records_message_association_finding_as_they_complete(tmp_path):
    replay = Replay(CAPTURES / "diag_status.pcap")
    lines: list[str] = []
    run_live(replay, Analyzer(keep_pdus=False), lines.append, jsonl=True)
    records = [json.loads(x) for x in lines]
    kinds = [r["record"] for r in records]
    assert kinds[0] == "header" and kinds[-1] == "end"
    # a message record comes before its association's record, findings right after it
    for a in (r for r in records if r["record"] == "association"):
        at = records.index(a)
        msgs = [i for i, r in enumerate(records) if r["record"] == "message" and r["association"] == a["number"]]
        assert msgs and max(msgs) < at
        after = [r for r in records[at + 1:] if r["record"] != "live"]
        assert after[0]["record"] in ("finding", "association", "end")
    # the findings are diagnose --json's for the same traffic
    from click.testing import CliRunner
    from dicomsniff.cli import main
    want = json.loads(CliRunner().invoke(main, ["diagnose", str(CAPTURES / "diag_status.pcap"), "--json"]).output)
    got = [r for r in records if r["record"] == "finding"]
    strip = lambda f: {k: v for k, v in f.items() if k != "record"}  # noqa: E731
    assert sorted(json.dumps(strip(f), sort_keys=True) for f in got) == \
        sorted(json.dumps(f, sort_keys=True) for f in want["findings"])
    assert records[-1]["findings"] == len(got) > 0


def test_a_write_error_does_not_stop_the_capture(tmp_path):
    """RLIMIT_FSIZE makes writes past 12 kB fail with EFBIG (a real OS error, in a child process): the
    capture goes on decoding, says so once per failure, and keeps saving in new files."""
    code = f"""
import resource, signal, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))
from test_capture_rotate import Replay
from dicomsniff.capture import pcapwriter
from dicomsniff.capture.pcapwriter import RingWriter
from dicomsniff.output.live_text import run_live
from dicomsniff.pipeline import Analyzer
pcapwriter.RETRY_SECONDS = 0
pcapwriter.FLUSH_BYTES = 1
w = RingWriter({str(tmp_path)!r}, 1, max_bytes=50_000)
r = run_live(Replay({str(CAPTURES / 'get.pcap')!r}), Analyzer(keep_pdus=False), print, writer=w)
print("RESULT", w.frames, w.unsaved, w.files, r.closed)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    saved, unsaved, files, closed = map(int, out[-1].split()[1:])
    assert unsaved > 0 and saved > 0 and files >= 2
    assert closed == 1                                   # the association was decoded whole all the same
    assert any("File too large" in ln and "packets are not saved" in ln for ln in out)
    assert len(open_capture_set(expand_inputs([tmp_path])).paths) == files
    assert os.path.getsize(ring_files(tmp_path)[0]) <= 12_000


def test_rotate_options_are_checked_before_capturing(tmp_path):
    def run(*args):
        r = subprocess.run([sys.executable, "-m", "dicomsniff", "capture", "-i", "lo", *args], capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
        lines = r.stderr.splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("dicomsniff: "), r.stderr
        return lines[0]
    assert "'1x' is neither a size (e.g. 100MB, 1GiB) nor a duration" in run("-w", str(tmp_path), "--rotate", "1x")
    assert "--keep goes with --rotate" in run("--keep", "3")
    assert "--rotate needs -w DIR" in run("--rotate", "10MB")
    assert "--keep: 0 is not in the range x>=1" in run("-w", str(tmp_path), "--rotate", "1h", "--keep", "0")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_went_away_is_said_once_and_decoding_goes_on(tmp_path):
    ring = tmp_path / "ring"
    writer = RingWriter(ring, 1, max_bytes=5000)
    ring.rmdir()
    lines: list[str] = []
    reporter = run_live(Replay(CAPTURES / "store.pcap"), Analyzer(keep_pdus=False), lines.append, writer=writer)
    errors = [ln for ln in lines if ln.startswith("! ")]
    assert len(errors) == 1 and f"{ring}: does not exist" not in errors[0] and "packets are not saved" in errors[0]
    assert reporter.closed == 1 and reporter.exchanges == 5
    assert writer.unsaved == 52 and "52 packets not saved" in lines[-1]
