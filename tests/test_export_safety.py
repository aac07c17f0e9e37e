"""``export-objects`` never writes outside DIR, never follows a link, never overwrites without --force (issue 6 §4).

The SOP Instance UID of a C-STORE-RQ is chosen by whoever sent it: file names
built from it must stay one plain, portable entry of DIR whatever it holds.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pydicom

from capwriter import ETHERNET, pcap_bytes
from dicomsniff.dimse.assembler import DataEnded, DataStarted
from dicomsniff.output import export_objects as X
from dicomsniff.pipeline import Analyzer, DataSeen
from dicomsniff.reading import read_events
from tests.test_export_objects import CAPTURES, SAFE_NAME, Conversation, run, small_dataset, store_rq
from tests.pdu_fixtures import (COMMAND, CT_STORAGE, DATA, IMPLICIT_LE, LAST, assoc_ac, assoc_rq, pdata, release_rp,
                                release_rq)

HOSTILE = [
    b"../../etc/x", b"/etc/passwd", b"..", b".", b"", b"..\\..\\Windows\\System32\\x", b"C:\\boot.ini",
    b"\x00\x1b[2J\x1b]0;pwned\x07\r\n\x7f", b"\xff\xfe\xc3\xa9\xe2\x80\xae", b"1.2." * 1200,
    b"CON", b"con", b"NUL.txt", b"COM1", b"LPT9", b"AUX", b"PRN", b"CON.", b"x. ",
    b"1.2.3.a", b"1.2.3.A", b"*?<>|:\"", b"~root/$HOME/`id`", b"-rf", b".hidden",
]
WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def stores_capture(instances: list[bytes]) -> bytes:
    """One association, one C-STORE-RQ per instance UID (as given, however hostile), released."""
    c = Conversation()
    c.send(True, assoc_rq("SYNSCU", "SYNSCP", [(1, CT_STORAGE, [IMPLICIT_LE])], max_pdu=0))
    c.send(False, assoc_ac("SYNSCU", "SYNSCP", [(1, 0, IMPLICIT_LE)], max_pdu=0))
    for i, uid in enumerate(instances, 1):
        c.send(True, pdata([(1, COMMAND | LAST, store_rq(CT_STORAGE, uid, message_id=i))]))
        c.send(True, pdata([(1, DATA | LAST, small_dataset(f"1.2.3.{i}"))]))
    c.send(True, release_rq())
    c.send(False, release_rp())
    c.close()
    return pcap_bytes(c.take(), ETHERNET)


def tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def test_hostile_uids_stay_plain_portable_names_inside_dir(tmp_path):
    cap = tmp_path / "hostile.pcap"
    cap.write_bytes(stores_capture(HOSTILE))
    out = tmp_path / "deep" / "out"
    before = tree(tmp_path)
    etc_x = Path("/etc/x").exists()
    result = run(cap, out)
    assert result.exit_code == 0, result.output
    assert f"{len(HOSTILE)} object(s) written" in result.stdout
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", result.output)     # nothing reaches the terminal raw
    created = tree(tmp_path) - before
    assert created == {out.parent, out} | set(out.iterdir())             # nothing but DIR and its files
    assert Path("/etc/x").exists() == etc_x
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == len(HOSTILE)
    assert len({n.lower() for n in names}) == len(names)                 # distinct on case-insensitive file systems
    for i, name in enumerate(names, 1):
        assert SAFE_NAME.fullmatch(name) and len(name) <= 100, name
        assert name.startswith(f"{i:04d}") and name.endswith(".dcm")
        assert not WINDOWS_RESERVED.fullmatch(name.split(".")[0]) and not name.endswith((".", " "))
        assert ".." not in name and not name.startswith(("-", "."))
        ds = pydicom.dcmread(out / name)
        assert ds.file_meta.MediaStorageSOPInstanceUID.is_valid          # a derived 2.25 UID when the wire's is not one
        assert ds.SOPInstanceUID == f"1.2.3.{i}"


def test_names_differing_only_by_case_do_not_collide(tmp_path):
    cap = tmp_path / "case.pcap"
    cap.write_bytes(stores_capture([b"1.2.3.a", b"1.2.3.A", b"1.2.3.a"]))
    out = tmp_path / "out"
    assert run(cap, out).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["0001-1.2.3.a.dcm", "0002-1.2.3.A.dcm", "0003-1.2.3.a.dcm"]


def test_symlink_to_a_file_inside_dir_is_not_followed_even_with_force(tmp_path):
    """A link named like an object, pointing to another file of DIR: that file must not be overwritten."""
    out = tmp_path / "out"
    out.mkdir()
    precious = out / "precious.txt"
    precious.write_text("keep")
    first = "0001-1.2.826.0.1.3680043.8.498.4242.2.1.1.dcm"
    (out / first).symlink_to("precious.txt")
    for opts in ((), ("--force",)):
        result = run(CAPTURES / "store.pcap", out, *opts)
        assert result.exit_code == 0
        assert precious.read_text() == "keep"
        assert (out / first).is_symlink() and os.readlink(out / first) == "precious.txt"
        assert "1 skipped: a symbolic link has this name" in result.stdout
        assert "4 object(s) written" in result.stdout


def test_dangling_symlink_is_not_followed(tmp_path):
    """A dangling link would make a naive open() create its target, possibly outside DIR."""
    out, target = tmp_path / "out", tmp_path / "elsewhere" / "created"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    first = "0001-1.2.826.0.1.3680043.8.498.4242.2.1.1.dcm"
    (out / first).symlink_to(target)
    for opts in ((), ("--force",)):
        result = run(CAPTURES / "store.pcap", out, *opts)
        assert result.exit_code == 0
        assert not target.exists() and (out / first).is_symlink()
        assert "a symbolic link has this name" in result.stdout


def test_directory_in_the_way_is_skipped(tmp_path):
    out = tmp_path / "out"
    (out / "0002-1.2.826.0.1.3680043.8.498.4242.2.2.2.dcm").mkdir(parents=True)
    result = run(CAPTURES / "store.pcap", out, "--force")
    assert result.exit_code == 0
    assert "4 object(s) written" in result.stdout and "1 skipped: a directory has this name" in result.stdout
    assert (out / "0002-1.2.826.0.1.3680043.8.498.4242.2.2.2.dcm").is_dir()


def test_file_appearing_during_the_export_is_not_overwritten(tmp_path):
    """The check before streaming is not enough: the name is taken atomically at the end (no --force)."""
    out = tmp_path / "out"
    an = Analyzer(keep_pdus=False, stream_data=True, decode_data=False)
    ex = X.ObjectExporter(out, X.ExportOptions())
    for ev in read_events(CAPTURES / "store.pcap", an):
        ex.on_event(ev)
        if type(ev) is DataSeen and type(ev.event) is DataStarted and ex.records and ex.records[-1].index == 1:
            (out / ex.records[-1].name).write_bytes(b"someone else's")
    ex.close()
    assert (out / ex.records[0].name).read_bytes() == b"someone else's"
    assert [r.status for r in ex.records] == [X.EXISTS] + [X.WRITTEN] * 4
    assert not [p for p in out.iterdir() if p.name.startswith(".dicomsniff-")]


def test_write_error_leaves_no_temporary_file(tmp_path, monkeypatch):
    """A full disk mid-object: one-line error, exit 2, no half-written file under any name."""
    out = tmp_path / "out"
    real = X.ObjectExporter.on_event

    def on_event(self, ev):
        if type(ev) is DataSeen and type(ev.event) is DataEnded and self.written == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, ev)

    monkeypatch.setattr(X.ObjectExporter, "on_event", on_event)
    result = run(CAPTURES / "store.pcap", out)
    assert result.exit_code == 2
    said = result.stderr.splitlines()
    assert said[0] == f"created folder {out}"           # what was done before the failure, then one error line
    assert len(said) == 2 and said[1].startswith("dicomsniff: ") and "No space left on device" in said[1]
    assert "Traceback" not in result.output
    assert sorted(p.name[:4] for p in out.iterdir()) == ["0001", "0002"]


# -- existing files are never destroyed (issue 12 item 10) ---------------------------------------------


def test_capture_named_like_an_object_is_never_replaced_even_with_force(tmp_path):
    """The capture sits in DIR under the name its first object would get: --force still leaves it alone."""
    out = tmp_path / "out"
    listing = run(CAPTURES / "store.pcap", out, "--list")
    an = Analyzer(keep_pdus=False, stream_data=True, decode_data=False)
    ex = X.ObjectExporter(out, X.ExportOptions(list_only=True))
    for ev in read_events(CAPTURES / "store.pcap", an):
        ex.on_event(ev)
    ex.close()
    name = ex.records[0].name
    assert name in listing.stdout
    out.mkdir()
    cap = out / name
    cap.write_bytes((CAPTURES / "store.pcap").read_bytes())
    before = cap.read_bytes()
    result = run(cap, out, "--force")
    assert result.exit_code == 0, result.output
    assert cap.read_bytes() == before
    assert "the input capture has this name" in result.stdout and name not in result.stderr
    assert len([p for p in out.iterdir() if p.suffix == ".dcm"]) == 5     # the 4 others, and the capture itself
    assert not [p for p in out.iterdir() if p.name.startswith(".dicomsniff-")]


def test_interrupt_mid_object_keeps_the_existing_file_with_force(tmp_path):
    """Ctrl-C while an object streams over an existing file of its name (--force): that file is unchanged."""
    out = tmp_path / "out"
    assert run(CAPTURES / "store.pcap", out).exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    for n in names:
        (out / n).write_bytes(b"earlier export " + n.encode())

    def interrupted():
        an = Analyzer(keep_pdus=False, stream_data=True, decode_data=False)
        seen = 0
        for ev in read_events(CAPTURES / "store.pcap", an):
            yield ev
            if type(ev) is DataSeen and type(ev.event) is DataStarted:
                seen += 1
                if seen == 3:
                    raise KeyboardInterrupt
    try:
        X.export_objects(interrupted(), out, X.ExportOptions(force=True), say=lambda line: None)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was swallowed")
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(now) == names                          # no temporary file left, no new name
    written = [n for n in names if now[n] != b"earlier export " + n.encode()]
    assert len(written) == 2                            # objects 1 and 2 finished before the interrupt: replaced
    assert all(now[n][128:132] == b"DICM" for n in written)
