"""The report's inline style and script: the page needs no network (no fonts, no CDN, no images).

The script is allowed by its SHA-256 in the page's Content-Security-Policy, so a ``<script>`` that
came off the wire (an AE title, an element value) would not run even if escaping ever failed.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root { --fail: #c62828; --warn: #b26a00; --ok: #2e7d32; --note: #00707a; --mute: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; padding: 1em 2em;
       max-width: 1400px; color: #222; }
h1 { font-size: 1.5em; margin: .2em 0; }
h2 { font-size: 1.25em; border-bottom: 2px solid var(--line); padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin: .6em 0 .3em; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; margin: .3em 0; white-space: pre; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { border: 1px solid var(--line); padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.banner { padding: .6em 1em; border-radius: 4px; margin: .6em 0; }
.banner.warn { background: #fff4e0; border: 1px solid #f0b44c; }
.banner.ok { background: #eaf6ea; border: 1px solid #9ccc9c; }
.sev { display: inline-block; min-width: 5.5em; font-weight: bold; }
.sev-error, .fail, .outcome-rejected, .outcome-aborted { color: var(--fail); }
.sev-warning, .warnc, .outcome-incomplete { color: var(--warn); }
.sev-note { color: var(--note); }
.outcome-released { color: var(--ok); }
.hint { color: #444; margin-left: 2em; }
.frames { color: var(--mute); }
.finding { margin: .25em 0; }
.assoc { border: 1px solid var(--line); border-radius: 6px; padding: .3em 1em 1em; margin: 1em 0; }
.assoc:target { border-color: #3b73b9; box-shadow: 0 0 0 2px #c5d8f0; }
.muted { color: var(--mute); }
.more { color: var(--mute); font-style: italic; }
details > summary { cursor: pointer; }
details.msg { margin: .15em 0; }
details.msg > summary { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
svg text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 11px; }
svg .lifeline { stroke: #999; stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .arrow line { stroke: #333; stroke-width: 1.3; }
svg .arrow.fail line { stroke: var(--fail); stroke-width: 2; }
svg .arrow.fail text { fill: var(--fail); font-weight: bold; }
svg .arrow.warnc line { stroke: var(--warn); }
svg .arrow.warnc text { fill: var(--warn); }
svg .arrow.cut line { stroke-dasharray: 5 3; }
svg .arrow.pdu text { fill: #1a4f8b; }
svg .arrow.tcp line { stroke-dasharray: 1 3; }
svg .arrow.tcp text { fill: #555; font-style: italic; }
svg .arrow text.t, svg .arrow.fail text.t { fill: var(--mute); font-weight: normal; }
svg .arrow:hover text { text-decoration: underline; }
svg .t { fill: var(--mute); }
svg .bar { stroke: #fff; }
svg .bar-released { fill: #66bb6a; }
svg .bar-rejected, svg .bar-aborted { fill: #e57373; }
svg .bar-incomplete { fill: #ffb74d; }
svg .axis { stroke: #bbb; }
svg .link { stroke: #7e57c2; stroke-width: 1.2; stroke-dasharray: 3 2; fill: none; }
svg a:hover rect { opacity: .75; }
#filter { margin: .3em 0; padding: 2px 6px; width: 24em; }
.toolbar button { margin-right: .4em; }
"""

JS = """
(function () {
  'use strict';
  var box = document.getElementById('filter');
  if (box) {
    box.addEventListener('input', function () {
      var q = box.value.toLowerCase();
      var rows = document.querySelectorAll('#assoc-table tbody tr');
      for (var i = 0; i < rows.length; i++) {
        rows[i].style.display = (!q || rows[i].textContent.toLowerCase().indexOf(q) >= 0) ? '' : 'none';
      }
    });
  }
  function setAll(open) {
    var ds = document.querySelectorAll('details.msg');
    for (var i = 0; i < ds.length; i++) { ds[i].open = open; }
  }
  var ex = document.getElementById('expand-all');
  var co = document.getElementById('collapse-all');
  if (ex) { ex.addEventListener('click', function () { setAll(true); }); }
  if (co) { co.addEventListener('click', function () { setAll(false); }); }
  function openTarget() {
    var el = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (el && el.tagName === 'DETAILS') { el.open = true; }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  document.documentElement.setAttribute('data-script', 'ran');
})();
"""


def script_hash(js: str = JS) -> str:
    """The CSP source that allows exactly this inline script: ``'sha256-…'``."""
    digest = hashlib.sha256(js.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(js: str = JS) -> str:
    """Nothing is fetched (no network), inline style only, and only our own script runs."""
    return ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src {script_hash(js)}; base-uri 'none'; form-action 'none'")
