"""``dicomsniff report``: the self-contained HTML page (issue 16 part 2), read back with an HTML parser.

Real captures (captures/README.md) for what the page shows; hand-made ones (tests/report_fixtures.py)
for hostile names and values, the caps on large associations and a de-identified capture. The page in a
real browser is tests/test_report_browser.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.cli import main
from dicomsniff.output.report.assets import JS, script_hash
from report_fixtures import (HOSTILE_CALLED, HOSTILE_CALLING, HOSTILE_COMMENT, HOSTILE_NAME, HOSTILE_VERSION, Page,
                             deidentified_store, echo_associations, echo_flood, hostile_capture)

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def report(tmp_path: Path, capture, *options: str) -> tuple[str, object]:
    if isinstance(capture, bytes):
        path = tmp_path / "in.pcap"
        path.write_bytes(capture)
        capture = path
    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", str(capture), "-o", str(out), *options])
    assert r.exit_code == 0, (r.output, r.stderr)
    return out.read_text("utf-8"), r


def diagnose_json(capture: Path) -> dict:
    r = CliRunner().invoke(main, ["diagnose", "--json", str(capture)])
    return json.loads(r.stdout)


def arrows(page: Page, assoc: int, *, tcp: bool = False) -> list[dict]:
    """The arrow groups of association ``assoc``'s ladder, in order (the parser sees them in document order):
    PDUs and messages, or with ``tcp`` the connection's FIN/RST."""
    out, inside = [], False
    for tag, a in page.elements:
        if tag == "svg":
            inside = "ladder" in (a.get("class") or "") and a.get("data-assoc") == str(assoc)
        elif inside and tag == "g" and "arrow" in (a.get("class") or "").split():
            if ("tcp" in a["class"].split()) == tcp:
                out.append(a)
    return out


def test_move_capture_page(tmp_path):
    text, r = report(tmp_path, CAPTURES / "move.pcap")
    page = Page(text)
    # three associations, each drawn: a time-axis row, a table row, a section with an SVG ladder
    assert page.having("span", id="association-count") and re.search(r'id="association-count">3<', text)
    assert len(page.having("section", class_="assoc")) == 3
    assert len(page.having("svg", class_="ladder")) == 3
    assert len(page.having("rect", class_="bar")) == 3
    assert {a["data-assoc"] for a in page.having("tr") if "data-assoc" in a} == {"1", "2", "3"}
    # association #3's ladder: A-ASSOCIATE-RQ/AC, C-MOVE-RQ, its refused response (red), A-RELEASE-RQ/RP
    ladder = arrows(page, 3)
    assert len(ladder) == 6
    failed = [a for a in ladder if "fail" in a["class"].split()]
    assert len(failed) == 2                   # the C-MOVE-RQ and its 0xA801 response
    assert "0xA801 Refused: Move Destination unknown" in page.text
    assert [a["data-dir"] for a in ladder] == ["scu-scp", "scp-scu", "scu-scp", "scp-scu", "scu-scp", "scp-scu"]
    # association #1's ladder: 3 pending C-MOVE-RSPs and the final one, none red
    one = arrows(page, 1)
    assert len(one) == 9 and not [a for a in one if "fail" in a["class"].split()]
    # after A-RELEASE both sides closed with FIN: drawn, not red
    fins = arrows(page, 1, tcp=True)
    assert len(fins) == 2 and all(a["class"] == "arrow tcp" for a in fins)
    # the sub-association is linked both ways, in the section and on the time axis
    assert page.having("a", href="#assoc-2") and page.having("a", href="#assoc-1")
    assert len(page.having("path", class_="link")) == 1
    assert "Linked: association #2" in " ".join(page.text.split())
    # a command set and a data set are there, folded
    assert len(page.having("details", class_="msg")) == 5 + 6 + 2
    assert "QueryRetrieveLevel" in text and "MoveDestination" in text


def test_findings_are_those_of_diagnose(tmp_path):
    """Same findings, same wording (message, frames, hint) as `dicomsniff diagnose`."""
    for name in ("move.pcap", "diag_status.pcap", "peer_orthanc_fail.pcap", "close_scp_killed.pcap"):
        text, _ = report(tmp_path, CAPTURES / name)
        page = Page(text)
        found = page.having("div", class_="finding")
        expected = diagnose_json(CAPTURES / name)["findings"]
        # each finding once in the capture's list and once in its association's section
        assert len(found) == 2 * len(expected), name
        flat = " ".join(page.text.split())
        for f in expected:
            assert " ".join(f["message"].split()) in flat, (name, f["message"])
            if f["hint"]:
                assert " ".join(f["hint"].split()) in flat, (name, f["hint"])
        codes = [a["data-code"] for a in found]
        assert sorted(codes) == sorted(f["code"] for f in expected for _ in (0, 1))


def test_connection_reset_is_drawn_red(tmp_path):
    """close_scp_killed.pcap: storescp killed mid data set, the server resets the connection (frame 21)."""
    text, _ = report(tmp_path, CAPTURES / "close_scp_killed.pcap")
    page = Page(text)
    tcp = arrows(page, 1, tcp=True)
    rst = [a for a in tcp if a["data-frame"] == "21"]
    assert len(rst) == 1 and rst[0]["data-dir"] == "scp-scu" and "fail" in rst[0]["class"].split()
    assert "TCP RST (server closes the connection)" in page.text
    # the ladder is in time order (the cut C-STORE-RQ is known after the PDUs that carried it, drawn before them)
    ladder = re.search(r'<svg class="ladder" data-assoc="1".*?</svg>', text, re.S).group(0)
    times = [float(t) for t in re.findall(r'<text class="t" x="8" y="[\d.]+">([\d.]+)</text>', ladder)]
    assert len(times) == 5 and times == sorted(times)
    assert re.findall(r'data-frame="(\d+)"', ladder)[-1] == "21"


def test_negotiation_table_and_response_times(tmp_path):
    text, _ = report(tmp_path, CAPTURES / "context_rejected.pcap")
    page = Page(text)
    flat = " ".join(page.text.split())
    rows = page.having("table", class_="contexts")
    assert len(rows) == 1
    assert "3 proposed, 1 accepted" in flat
    assert "abstract-syntax-not-supported" in flat and "transfer-syntaxes-not-supported" in flat
    assert "OFFIS_DCMTK" in flat                             # storescu's implementation version
    text, _ = report(tmp_path, CAPTURES / "diag_status.pcap")
    flat = " ".join(Page(text).text.split())
    # the C-ECHO the SCP answered after 1.5 s: count 1, min = median = max
    m = re.search(r"C-ECHO 1 (\S+ s) (\S+ s) (\S+ s) (\S+ s) 0", flat)
    assert m and len(set(m.groups())) == 1 and 1.4 < float(m.group(1).split()[0]) < 2.0


def test_hostile_names_and_values_stay_text(tmp_path):
    text, r = report(tmp_path, hostile_capture())
    page = Page(text)
    # our one script, allowed by its hash; nothing from the wire became an element
    assert page.scripts == [JS]
    csp = [a["content"] for a in page.having("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and f"script-src {script_hash()};" in csp[0] and "default-src 'none'" in csp[0]
    tags = {t for t, _ in page.elements}
    assert "img" not in tags and "i" not in tags
    assert all(not k.startswith("on") for _, a in page.elements for k in a)
    assert "<script>alert" not in text and "<svg onload" not in text and "<img src=x>" not in text
    # and every one is there as text, where it belongs
    flat = page.text
    for s in (HOSTILE_CALLING, HOSTILE_CALLED, HOSTILE_VERSION, HOSTILE_NAME, HOSTILE_COMMENT, "<i>PID</i>",
              "a & b < c > d"):
        assert s in flat, s
    # the failing store's status is drawn red with the peer's comment quoted as text
    assert "0xA700" in flat
    fails = [a for a in page.having("g", class_="fail")]
    assert len(fails) == 2
    titles = " ".join(a.get("data-dir", "") for a in fails)
    assert titles == "scu-scp scp-scu"
    # the patient data warning names the attributes, never their values
    assert "contains patient data" in r.stderr and HOSTILE_NAME not in r.stderr


def test_large_association_is_capped_with_counts(tmp_path):
    text, _ = report(tmp_path, echo_flood(400), "--max-arrows", "50", "--max-sets", "10")
    page = Page(text)
    assert len(arrows(page, 1)) == 50
    flat = " ".join(page.text.split())
    # 2 association PDUs + 800 messages + 2 release PDUs, 50 drawn
    assert "… 754 more PDUs and messages not drawn" in flat
    assert "… 790 more messages whose sets are not included" in flat
    assert len(page.having("details", class_="msg")) == 10
    # the statistics count every exchange, drawn or not
    assert re.search(r"C-ECHO 400 \S+ \S+ \S+ \S+ \S+ \S+ \S+ \S+ 0", flat)


def test_associations_beyond_the_cap_are_counted(tmp_path):
    text, _ = report(tmp_path, echo_associations(6, failing=(6,)), "--max-associations", "2")
    page = Page(text)
    # 2 drawn in detail, plus the one with an error (the refused C-ECHO) beyond the cap
    assert [a["id"] for a in page.having("section", class_="assoc")] == ["assoc-1", "assoc-2", "assoc-6"]
    assert len([a for a in page.having("tr") if "data-assoc" in a]) == 6
    flat = " ".join(page.text.split())
    assert "the other 3 are summarised only (in the table)" in flat
    # past the cap the error association keeps the sets of its failing messages only (the refused C-ECHO-RSP)
    assert [a["id"] for a in page.having("details", class_="msg") if a["id"].startswith("a6-")] == ["a6-m2"]
    assert "the sets of failing messages only" in flat
    assert re.search(r'id="association-count">6<', text)


def test_table_and_time_axis_caps():
    """Past the table's rows and the axis' bars: counted, said, and the associations drawn stay listed."""
    from dicomsniff.output.report import Limits, write_report
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events
    an = Analyzer(keep_pdus=False)
    out: list[str] = []
    write_report(read_events(echo_associations(8, failing=(7,)), an), out.append, "x.pcap", an,
                 limits=Limits(associations=1, error_associations=5, table_rows=3, timeline=2, overview=4))
    page = Page("".join(out))
    assert [a["data-assoc"] for a in page.having("tr") if "data-assoc" in a] == ["1", "2", "3", "7"]
    assert [a["id"] for a in page.having("section", class_="assoc")] == ["assoc-1", "assoc-7"]
    assert len(page.having("rect", class_="bar")) == 2
    flat = " ".join(page.text.split())
    assert "… 4 more associations (counted above)" in flat
    assert "… 6 later associations are not drawn on the axis" in flat
    assert "the other 6 are summarised only; the table lists the first 3 and those drawn, the other 4" in flat
    assert re.search(r'id="association-count">8<', "".join(out))
    # the overview counts all 8 by start (50 ms apart over 120 columns: one each), #7 red
    bars = page.having("rect", class_="ov")
    assert len(bars) == 8 and len(page.having("rect", class_="ov-err")) == 1


def test_deidentified_capture_gives_no_patient_warning(tmp_path):
    text, r = report(tmp_path, deidentified_store())
    page = Page(text)
    assert "patient data" not in r.stderr
    assert not page.having("div", id="patient-warning")
    assert page.having("div", id="patient-ok")
    text, r = report(tmp_path, CAPTURES / "find_mwl.pcap")
    assert "contains patient data and was not anonymized" in r.stderr
    assert Page(text).having("div", id="patient-warning")
    assert "PatientName" in r.stderr and "DOE" not in r.stderr


@pytest.mark.parametrize("name", ["move.pcap", "find_mwl.pcap", "store.pcap", "pynetdicom.pcap", "get.pcap"])
def test_anonymized_capture_report_has_no_patient_data(tmp_path, name):
    """`dicomsniff anonymize IN OUT && dicomsniff report OUT`: no warning, and none of the original's patient
    values (names, IDs, birth dates, accession numbers as the original's report shows them) in the page."""
    original, r = report(tmp_path, CAPTURES / name)
    assert "contains patient data and was not anonymized" in r.stderr
    values = {v.strip() for v in re.findall(r"(?:PatientName|PatientID|PatientBirthDate|AccessionNumber): ([^\n<]+)",
                                             original)} - {"(empty)", ""}
    assert values
    clean = tmp_path / "clean.pcap"
    a = CliRunner().invoke(main, ["anonymize", str(CAPTURES / name), str(clean)])
    assert a.exit_code == 0, a.stderr
    text, r = report(tmp_path, clean)
    assert "patient data" not in r.stderr
    page = Page(text)
    assert page.having("div", id="patient-ok") and not page.having("div", id="patient-warning")
    assert not [v for v in values if v in text]
    # the problem is still on the page: same associations, same statuses
    assert re.findall(r'id="association-count">(\d+)<', text) == re.findall(r'id="association-count">(\d+)<',
                                                                            original)
    statuses = re.compile(r"0x[0-9A-F]{4} [A-Z][A-Za-z:,' ]*")
    assert statuses.findall(text) == statuses.findall(original)


def test_report_of_no_dicom_and_bad_input(tmp_path):
    import capwriter as C
    data = C.pcap_bytes([(C.NS, C.frame(C.ETHERNET, C.tcp_packet("10.0.0.1", "10.0.0.2", 1, 2, payload=b"x")))])
    text, _ = report(tmp_path, data)
    assert re.search(r'id="association-count">0<', text) and "No problems found." in text
    bad = tmp_path / "not.pcap"
    bad.write_bytes(b"hello")
    out = tmp_path / "r.html"
    out.write_text("keep")
    r = CliRunner().invoke(main, ["report", str(bad), "-o", str(out)])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("dicomsniff: ")
    assert out.read_text() == "keep"                        # an existing output is left as it was
    r = CliRunner().invoke(main, ["report", str(CAPTURES / "echo.pcap"), "-o", str(CAPTURES / "echo.pcap")])
    assert r.exit_code == 2


BENCH = Path(os.path.expanduser("~/.cache/dicomsniff-bench/store-0.2g-mtu1500.pcap"))


@pytest.mark.skipif(not BENCH.exists(), reason="bench capture not present (bench/ makes it)")
def test_bench_capture_report_stays_small(tmp_path):
    text, _ = report(tmp_path, BENCH)
    assert len(text.encode()) < 3 << 20
    assert re.search(r'id="association-count">6<', text)


def test_response_time_groups_are_bounded():
    """Responders on ever new addresses (e.g. C-GET SCUs on ephemeral ports) cannot grow the statistics without
    bound: past the limit they are one "(other peers)" group; the table shows the busiest groups and says so."""
    from dicomsniff.output.report import Limits, write_report
    from dicomsniff.pipeline import Analyzer
    from dicomsniff.reading import read_events
    an = Analyzer(keep_pdus=False)
    out: list[str] = []
    # 9 C-ECHOs to SCP ports 104, 105, 106, 104, …; three groups, two rows shown
    write_report(read_events(echo_associations(9, servers=3), an), out.append, "x.pcap", an,
                 limits=Limits(peer_groups=3, peer_rows=2))
    flat = " ".join(Page("".join(out)).text.split())
    assert re.search(r"C-ECHO 9 ", flat)                                      # by command: all of them
    assert re.search(r"SCP 10\.0\.0\.2:104 C-ECHO 3 ", flat)
    assert re.search(r"SCP 10\.0\.0\.2:105 C-ECHO 3 ", flat)
    assert "(other peers)" not in flat and "… 1 more (peer, command) groups" in flat
    out.clear()
    an = Analyzer(keep_pdus=False)
    write_report(read_events(echo_associations(9, servers=3), an), out.append, "x.pcap", an,
                 limits=Limits(peer_groups=2, peer_rows=5))
    flat = " ".join(Page("".join(out)).text.split())
    assert re.search(r"\(other peers\) C-ECHO 3 ", flat) and "more (peer, command) groups" not in flat
    assert "10.0.0.2:106" not in flat.split("By responding peer")[1].split("Associations in detail")[0]
