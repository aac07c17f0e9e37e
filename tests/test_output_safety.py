"""Output files are never destroyed (issue 12 item 10): ``export -o`` and ``capture -w`` write beside the
target and rename into place only on success; an output that is the input is refused; an existing
output stays byte-identical whatever fails. Run through real processes where the user would meet it."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from capwriter import ETHERNET
from dicomsniff.capture.live import capture_permitted
from dicomsniff.capture.pcapwriter import PcapWriter
from dicomsniff.capture.reader import open_capture
from dicomsniff.safeio import AtomicOutput, OutputError, refuse_same_file

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
PRECIOUS = b'{"an": "earlier export that must survive"}\n'


def dicomsniff(*args, cwd=None, preexec=None, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dicomsniff", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, preexec_fn=preexec, timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess, *parts: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dicomsniff: "), r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    for p in parts:
        assert p in lines[0], (p, lines[0])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def precious(tmp_path) -> Path:
    out = tmp_path / "out.json"
    out.write_bytes(PRECIOUS)
    return out


# -- export -o ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("jsonl", [False, True])
def test_missing_capture_keeps_the_existing_export(tmp_path, precious, jsonl):
    r = dicomsniff("export", tmp_path / "typo.pcap", "-o", precious, *(["--jsonl"] if jsonl else []))
    one_line_error(r, "typo.pcap", "No such file or directory")
    assert precious.read_bytes() == PRECIOUS and leftovers(tmp_path) == []


def test_not_a_capture_keeps_the_existing_export(tmp_path, precious):
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    one_line_error(dicomsniff("export", text, "-o", precious), "not a pcap or pcapng file")
    one_line_error(dicomsniff("export", tmp_path, "-o", precious), str(tmp_path))
    assert precious.read_bytes() == PRECIOUS and leftovers(tmp_path) == []


def test_bad_option_keeps_the_existing_export(tmp_path, precious):
    one_line_error(dicomsniff("export", CAPTURES / "echo.pcap", "-o", precious, "--slow", "-3"), "--slow")
    assert precious.read_bytes() == PRECIOUS and leftovers(tmp_path) == []


def test_success_replaces_the_export_atomically_and_keeps_its_mode(tmp_path, precious):
    precious.chmod(0o640)
    r = dicomsniff("export", CAPTURES / "echo.pcap", "-o", precious)
    assert r.returncode == 0, r.stderr
    doc = json.loads(precious.read_text())
    assert doc["associations"][0]["calling_ae"] == "ECHOSCU"
    assert precious.stat().st_mode & 0o777 == 0o640 and leftovers(tmp_path) == []


@pytest.mark.parametrize("spelling", ["same", "relative", "dotdot", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused(tmp_path, spelling):
    cap = tmp_path / "x.pcap"
    shutil.copy(CAPTURES / "echo.pcap", cap)
    before = cap.read_bytes()
    (tmp_path / "sub").mkdir()
    out = {"same": str(cap), "relative": "x.pcap", "dotdot": "sub/../x.pcap",
           "symlink": "link.pcap", "hardlink": "hard.pcap"}[spelling]
    if spelling == "symlink":
        (tmp_path / "link.pcap").symlink_to(cap)
    if spelling == "hardlink":
        os.link(cap, tmp_path / "hard.pcap")
    for jsonl in ([], ["--jsonl"]):
        r = dicomsniff("export", "x.pcap", "-o", out, *jsonl, cwd=tmp_path)
        one_line_error(r, "is the input capture", "refusing to overwrite it")
        assert cap.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_bad_output_paths_are_one_line(tmp_path):
    one_line_error(dicomsniff("export", CAPTURES / "echo.pcap", "-o", tmp_path / "nowhere" / "x.json"),
                   "does not exist")
    one_line_error(dicomsniff("export", CAPTURES / "echo.pcap", "-o", tmp_path), "Is a directory")


def _limit_file_size(limit: int):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.parametrize("jsonl", [False, True])
def test_disk_full_keeps_the_existing_export(tmp_path, precious, jsonl):
    """A write that fails mid-way (the file size limit stands in for a full disk): one line, old file intact."""
    r = dicomsniff("export", CAPTURES / "store.pcap", "-o", precious, *(["--jsonl"] if jsonl else []),
                   preexec=_limit_file_size(20_000))
    one_line_error(r, "File too large")
    assert precious.read_bytes() == PRECIOUS and leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_keeps_the_existing_export(tmp_path, precious, sig):
    """SIGINT (or SIGTERM) while the capture is being read: exit 130, the old file untouched, no temporary
    file left."""
    from floodcap import write_echo_flood
    cap = tmp_path / "flood.pcap"
    write_echo_flood(cap, 30_000)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # As a terminal's foreground job: SIGINT at its default. A suite run as a background job of a
    # non-interactive shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    p = subprocess.Popen([sys.executable, "-m", "dicomsniff", "export", str(cap), "-o", str(precious)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        end = time.monotonic() + 60
        while not leftovers(tmp_path):                 # the export has started writing
            assert p.poll() is None and time.monotonic() < end, p.communicate()
            time.sleep(0.01)
        time.sleep(0.2)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert err.strip() == "dicomsniff: interrupted"
    assert precious.read_bytes() == PRECIOUS and leftovers(tmp_path) == []


def test_stdout_output_still_streams(tmp_path):
    r = dicomsniff("export", CAPTURES / "echo.pcap", "-o", "-")
    assert r.returncode == 0 and json.loads(r.stdout)["associations"][0]["called_ae"]
    r = dicomsniff("export", CAPTURES / "echo.pcap", "-o", "-", "--jsonl")
    assert [json.loads(x)["record"] for x in r.stdout.splitlines()][0] == "header"
    assert leftovers(tmp_path) == []


# -- the writer itself ------------------------------------------------------------------------------


def test_exception_mid_way_discards(tmp_path, precious):
    with pytest.raises(RuntimeError):
        with AtomicOutput(precious, binary=False) as out:
            out.write("half a document")
            raise RuntimeError("something broke")
    assert precious.read_bytes() == PRECIOUS and leftovers(tmp_path) == []


def test_temporary_file_is_beside_the_target_and_never_follows_links(tmp_path, precious):
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    with AtomicOutput(link) as out:
        assert Path(out.tmp).parent == tmp_path and Path(out.tmp).name.startswith(".link.json.")
        out.write(b"new")
    assert victim.read_bytes() == b"victim"                 # the link was replaced, not followed
    assert not link.is_symlink() and link.read_bytes() == b"new"
    with pytest.raises(OutputError):
        refuse_same_file([str(victim)], str(victim))


# -- capture -w -------------------------------------------------------------------------------------


class _Source:
    """A live source (capture.live.LiveSource's interface) from a capture file; ``then`` runs after it."""

    def __init__(self, path: Path, then=None):
        self.frames = list(open_capture(str(path)))
        self.linktype, self.snaplen, self.notices, self.then = ETHERNET, 262144, [], then

    def iter_frames(self, stop, idle=False):
        for f in self.frames:
            f.file_offset = None
            yield f
        if self.then is not None:
            self.then()
        while not stop.is_set():
            yield None
            time.sleep(0.01)

    def stats(self):
        return (len(self.frames), 0)

    def close(self):
        pass


def _run_live(source, target: Path):
    from dicomsniff.output.live_text import run_live
    from dicomsniff.pipeline import Analyzer
    lines: list[str] = []
    run_live(source, Analyzer(keep_pdus=False), lines.append, writer=PcapWriter(target, ETHERNET))
    return lines


def test_capture_ctrl_c_is_the_normal_end_and_the_pcap_is_complete(tmp_path):
    """Ctrl-C (SIGINT) stops the capture; the whole pcap is then renamed over the old file."""
    target = tmp_path / "live.pcap"
    target.write_bytes(b"old capture")
    assert threading.current_thread() is threading.main_thread()
    source = _Source(CAPTURES / "echo.pcap", then=lambda: os.kill(os.getpid(), signal.SIGINT))
    lines = _run_live(source, target)
    assert "written to" in lines[-1]
    back = list(open_capture(str(target)))
    assert [(f.ts_ns, f.data) for f in back] == [(f.ts_ns, f.data) for f in source.frames]
    assert leftovers(tmp_path) == []


def test_capture_failing_mid_way_keeps_an_existing_file(tmp_path):
    def boom():
        raise OSError(5, "Input/output error")
    target = tmp_path / "live.pcap"
    target.write_bytes(b"old capture")
    with pytest.raises(OSError):
        _run_live(_Source(CAPTURES / "echo.pcap", then=boom), target)
    assert target.read_bytes() == b"old capture" and leftovers(tmp_path) == []
    fresh = tmp_path / "fresh.pcap"                         # nothing there before: the packets are kept
    with pytest.raises(OSError):
        _run_live(_Source(CAPTURES / "echo.pcap", then=boom), fresh)
    assert len(list(open_capture(str(fresh)))) == len(list(open_capture(str(CAPTURES / "echo.pcap"))))


def test_capture_that_cannot_start_keeps_the_file(tmp_path):
    target = tmp_path / "live.pcap"
    target.write_bytes(b"old capture")
    r = dicomsniff("capture", "-i", "no-such-if0", "-w", target)
    one_line_error(r, "no-such-if0")
    assert target.read_bytes() == b"old capture" and leftovers(tmp_path) == []
    one_line_error(dicomsniff("capture", "-i", "lo", "-w", tmp_path / "nowhere" / "x.pcap"), "does not exist")


@pytest.mark.skipif(not (capture_permitted() and os.path.exists("/sys/class/net/lo")),
                    reason="live capture needs Linux, an 'lo' interface and root or CAP_NET_RAW")
def test_capture_duration_replaces_the_file_with_a_complete_pcap(tmp_path):
    target = tmp_path / "live.pcap"
    target.write_bytes(b"old capture")
    r = dicomsniff("capture", "-i", "lo", "-f", "tcp port 9", "-w", target, "--duration", "0.5")
    assert r.returncode == 0, r.stderr
    with open_capture(str(target)) as reader:
        list(reader)
        assert reader.format == "pcap-ns" and not reader.notices
    assert leftovers(tmp_path) == []


# -- targets that are no regular file are written in place (renaming over them would replace them) -------


def _private_null(tmp_path: Path) -> Path:
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 3))
    except (PermissionError, AttributeError, OSError):
        pytest.skip("creating a character device needs root")
    return null


@pytest.mark.parametrize("jsonl", [False, True])
def test_a_device_stays_a_device(tmp_path, jsonl):
    """`-o /dev/null` (here a private copy of it, and a link to it like /dev/stdout) is written, not replaced."""
    import stat as S
    null = _private_null(tmp_path)
    link = tmp_path / "stdout"
    link.symlink_to(null)
    for target in (null, link):
        r = dicomsniff("export", CAPTURES / "echo.pcap", "-o", target, *(["--jsonl"] if jsonl else []))
        assert r.returncode == 0, r.stderr
        assert S.S_ISCHR(os.stat(null).st_mode) and link.is_symlink()
    with PcapWriter(link, ETHERNET) as w:
        w.write(next(iter(open_capture(str(CAPTURES / "echo.pcap")))))
    assert S.S_ISCHR(os.stat(null).st_mode) and link.is_symlink() and leftovers(tmp_path) == []


def test_a_fifo_is_written_in_place(tmp_path):
    import stat as S
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    r = dicomsniff("export", CAPTURES / "echo.pcap", "--jsonl", "-o", fifo)
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert S.S_ISFIFO(os.stat(fifo).st_mode)
    assert json.loads(got[0].splitlines()[0])["record"] == "header"


def test_own_descriptor_path_with_stdout_a_file(tmp_path):
    """`-o /proc/self/fd/1` (what /dev/stdout links to) while standard output is a regular file: written
    through the descriptor, nothing created or renamed in /proc (the same rule keeps /dev/stdout a link)."""
    out = tmp_path / "redirected.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(out, "wb") as f:
        r = subprocess.run([sys.executable, "-m", "dicomsniff", "export", str(CAPTURES / "echo.pcap"), "-o",
                            "/proc/self/fd/1"], stdout=f, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["associations"][0]["calling_ae"] == "ECHOSCU"


def test_viewer_live_save_ends_as_the_capture_does(tmp_path):
    """view --live -w: the viewer's loader renames the pcap into place when capture stops normally, and keeps
    an existing file when the source fails."""
    from dicomsniff.output.tui.session import Loader, new_analyzer, new_session

    def load(source, target: Path):
        loader = Loader(new_session("live", live=True), new_analyzer(), post=lambda p: progress.append(p))
        progress: list = []
        stopper = threading.Timer(0.3, loader.stop.set)
        stopper.start()
        loader.run_live(source, PcapWriter(target, ETHERNET))
        stopper.cancel()
        return progress[-1]

    def boom():
        raise OSError(5, "Input/output error")

    kept = tmp_path / "kept.pcap"
    kept.write_bytes(b"old capture")
    done = load(_Source(CAPTURES / "echo.pcap", then=boom), kept)
    assert done.done and "Input/output error" in done.error
    assert kept.read_bytes() == b"old capture"
    saved = tmp_path / "saved.pcap"
    saved.write_bytes(b"old capture")
    done = load(_Source(CAPTURES / "echo.pcap"), saved)
    assert done.done and done.error is None
    assert len(list(open_capture(str(saved)))) == len(list(open_capture(str(CAPTURES / "echo.pcap"))))
    assert leftovers(tmp_path) == []
