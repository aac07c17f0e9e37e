"""The report in a real browser: Debian's chromium, headless, renders it to PNG and dumps its DOM.

Asserts on the DOM after the page's script ran (association count, the failing message's status text,
the SVG ladder's arrows) and that the browser's console stayed empty: no script error, no Content
Security Policy violation (a script from the wire would be one), no resource fetched. A control page
with a deliberate error proves the console check can fail. Skipped, with the reason, without chromium
(scripts/test-deps.sh installs it; CI has it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dicomsniff.cli import main
from report_fixtures import HOSTILE_NAME, Page, hostile_capture

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (scripts/test-deps.sh"
                                                          " installs it: apt-get install chromium)")


def chromium(tmp_path: Path, page: Path, *what: str) -> tuple[str, list[str]]:
    """(stdout, console lines) of headless chromium run on ``page`` with ``what`` (--dump-dom, --screenshot=…)."""
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--window-size=1300,2000",
           *what, page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    return r.stdout, console


def render(tmp_path: Path, capture) -> Path:
    if isinstance(capture, bytes):
        src = tmp_path / "in.pcap"
        src.write_bytes(capture)
        capture = src
    out = tmp_path / f"{Path(capture).stem}.html"
    r = CliRunner().invoke(main, ["report", str(capture), "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    return out


def test_console_check_catches_errors(tmp_path):
    """The check below is not blind: a page that throws, and a script the CSP blocks, are both seen."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>throw new Error('boom')</script></body></html>")
    _, console = chromium(tmp_path, bad, "--dump-dom")
    assert any("Uncaught Error: boom" in ln for ln in console)
    blocked = tmp_path / "blocked.html"
    blocked.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src"
                       " 'none'\"></head><body><script>1</script></body></html>")
    _, console = chromium(tmp_path, blocked, "--dump-dom")
    assert any("Content Security Policy" in ln for ln in console)


@pytest.mark.parametrize("name, associations, failing", [
    ("move.pcap", 3, "0xA801 Refused: Move Destination unknown"),
    ("pynetdicom.pcap", 1, "0xA700"),
    ("diag_status.pcap", 2, "0xC000"),
])
def test_real_capture_in_chromium(tmp_path, name, associations, failing):
    html = render(tmp_path, CAPTURES / name)
    dom, console = chromium(tmp_path, html, "--dump-dom")
    assert console == []
    page = Page(dom)
    assert page.having("html", data_script="ran")            # our script ran under the page's CSP
    m = re.search(r'id="association-count">(\d+)<', dom)
    assert m and int(m.group(1)) == associations
    assert len(page.having("svg", class_="ladder")) == associations
    assert len(page.having("rect", class_="bar")) == associations
    # the failing message's status text is on a red arrow of its ladder
    red = re.findall(r'<g class="arrow msg fail"[^>]*>(.*?)</g>', dom)
    assert any(failing in g for g in red), red
    # every ladder arrow is a line with an arrowhead between the two lifelines
    arrows = re.findall(r'<g class="arrow[^"]*"[^>]*>.*?<line x1="(\d+)" y1="[\d.]+" x2="(\d+)"[^>]*marker-end', dom)
    assert arrows and all({x1, x2} == {"150", "900"} for x1, x2 in arrows)
    png = tmp_path / "page.png"
    _, console = chromium(tmp_path, html, f"--screenshot={png}")
    assert console == []
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_arrow_link_opens_its_message_sets(tmp_path):
    """An arrow links to its message's <details>: arriving there (a fragment) opens it, the others stay shut."""
    html = render(tmp_path, CAPTURES / "move.pcap")
    target = Page(html.read_text())
    links = [a["href"] for a in target.having("a") if a.get("href", "").startswith("#a3-")]
    assert links == ["#a3-m1", "#a3-m2"]                  # association #3: the C-MOVE-RQ and its refusal
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'p2'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
                        html.as_uri() + "#a3-m2"], capture_output=True, text=True, timeout=120)
    assert ":CONSOLE" not in r.stderr
    opened = [a["id"] for a in Page(r.stdout).having("details", class_="msg") if "open" in a]
    assert opened == ["a3-m2"]


def test_hostile_capture_in_chromium(tmp_path):
    """The peer's '<script>' in the Patient Name is text in the DOM; nothing ran, nothing was blocked."""
    html = render(tmp_path, hostile_capture())
    dom, console = chromium(tmp_path, html, "--dump-dom")
    assert console == []
    page = Page(dom)
    assert len(page.scripts) == 1
    assert HOSTILE_NAME in page.text
    assert not page.having("img") and not page.having("svg", onload="alert(2)")
