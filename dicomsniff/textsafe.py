"""Terminal-safe text for anything that came off the wire (AE titles, UIDs, strings).

A peer controls these bytes: an AE title holding ``ESC [ 3 1 m`` must not recolour
the user's terminal, and one holding ``[red]`` must not be read as Rich markup.
:func:`safe_text` is for plain output; :func:`safe_markup` also escapes Rich markup.
"""

from __future__ import annotations

from rich.markup import escape


# str.translate table: C0 controls (incl. ESC, TAB, CR, LF), DEL and the C1 range.
_TABLE = {o: f"\\x{o:02x}" for o in (*range(0x20), *range(0x7F, 0xA0))}
# Unicode line/paragraph separators and bidi overrides also reorder or break a terminal line.
_TABLE.update({o: f"\\u{o:04x}" for o in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def safe_text(s: object) -> str:
    """``s`` as a string with control characters shown as ``\\xNN`` escapes; never raises.

    Idempotent: the escapes themselves are printable, so applying it twice changes nothing.
    """
    if s is None:
        return ""
    if not isinstance(s, str):
        try:
            s = str(s)
        except Exception:
            return "<unprintable>"
    return s.translate(_TABLE)


def safe_markup(s: object) -> str:
    """:func:`safe_text`, then Rich markup escaping (``[red]`` → ``\\[red]``), for Rich markup strings."""
    return escape(safe_text(s))


# JSON: the encoder escapes C0 itself; DEL, C1 (U+0080-U+009F: U+009B is a terminal's CSI), line/paragraph
# separators and bidi controls are left raw with ensure_ascii=False, so they are escaped here. They can only
# occur inside JSON strings, so replacing them by \uXXXX keeps the document equal when parsed.
_JSON_TABLE = {o: f"\\u{o:04x}" for o in (*range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                                          *range(0x2066, 0x206A))}


def json_text(obj: object, *, indent: int | None = None, compact: bool = False) -> str:
    """``obj`` as JSON that is safe on a terminal: every control character escaped, other text kept readable.

    The one encoder of every JSON writer (export, --jsonl, diagnose --json, diff --json, capture --jsonl).
    ``compact`` drops the spaces after separators (one record per line).
    """
    import json
    text = json.dumps(obj, ensure_ascii=False, indent=indent, separators=(",", ":") if compact else None,
                      default=str)
    return text.translate(_JSON_TABLE)
