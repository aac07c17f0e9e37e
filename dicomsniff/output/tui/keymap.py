"""Remappable keys: binding ids, their default keys, and the user's ``keys.toml``.

Every binding of the viewer has an id (Textual's ``Binding(id=...)``); a TOML
file maps ids to keys and is applied with ``App.set_keymap``. The file is
``$DICOMSNIFF_KEYS`` if set, else ``$XDG_CONFIG_HOME/dicomsniff/keys.toml``
(``~/.config/dicomsniff/keys.toml``)::

    # action = "key" or "key1,key2" (Textual key names: ctrl+x, f2, slash, question_mark, ...)
    quit = "ctrl+q"
    filter = "f2,slash"
    "list.down" = ["down", "j", "ctrl+n"]

A bad file never stops the viewer: unknown actions, empty keys, clashes and
TOML errors are reported as one line each and the defaults stay in force.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:                      # Python 3.10: read the simple "name = value" lines ourselves
    tomllib = None

# id → (default keys, what it does). App-wide first, then the lists (associations, messages), then the tree.
ACTIONS: dict[str, tuple[str, str]] = {
    "quit": ("q", "quit"),
    "filter": ("slash", "filter associations and messages"),
    "search": ("ctrl+f", "search decoded values"),
    "search_next": ("n", "next search match"),
    "search_previous": ("N", "previous search match"),
    "contexts": ("c", "presentation contexts of the association"),
    "findings": ("f", "diagnosis findings of the association"),
    "toggle_pdata": ("p", "show / hide P-DATA-TF rows"),
    "show_all": ("m", "with a filter: only matching rows / every row, the others dimmed"),
    "export": ("e", "export the association to JSON"),
    "export_objects": ("o", "export the association's C-STORE objects to .dcm"),
    "statistics": ("s", "response-time statistics (per service and per peer)"),
    "io_graph": ("i", "throughput over time (I/O graph) of the capture or the association"),
    "maximize_pane": ("z", "maximise the focused pane / restore"),
    "help": ("question_mark", "help"),
    "close": ("escape", "close the filter or search input"),
    "list.up": ("up,k", "previous row"),
    "list.down": ("down,j", "next row"),
    "list.page_up": ("pageup", "page up"),
    "list.page_down": ("pagedown", "page down"),
    "list.first": ("home,g", "first row"),
    "list.last": ("end,G", "last row"),
    "list.open": ("enter", "open (association → messages → fields)"),
    "hex.left": ("left", "byte cursor left"),
    "hex.right": ("right", "byte cursor right"),
    "hex.up": ("up,k", "byte cursor one row up"),
    "hex.down": ("down,j", "byte cursor one row down"),
    "hex.page_up": ("pageup", "page up"),
    "hex.page_down": ("pagedown", "page down"),
    "hex.first": ("home", "first byte"),
    "hex.last": ("end", "last byte"),
    "hex.switch": ("x", "the frame's own bytes as captured / the reassembled bytes"),
    "hex.previous_frame": ("left_square_bracket", "showing a frame: the unit's previous frame"),
    "hex.next_frame": ("right_square_bracket", "showing a frame: the unit's next frame"),
    "tree.up": ("k", "previous field (besides ↑)"),
    "tree.down": ("j", "next field (besides ↓)"),
    "tree.open": ("right", "open the field (its bytes, a sequence's items), or step into it"),
    "tree.close": ("left", "close the field, or step out to its parent"),
    "tree.first": ("home,g", "first field"),
    "tree.last": ("G", "last field"),
    "tree.bytes": ("end", "scroll the bytes pane to the selected field's bytes"),
    "tree.apply_filter": ("a", "apply the selected element as a display filter"),
}
SCOPE = {"list": "in a list", "tree": "in the field tree", "hex": "in the bytes pane"}

KEY_NAMES = {"slash": "/", "question_mark": "?", "escape": "esc", "pageup": "PgUp", "pagedown": "PgDn",
             "up": "↑", "down": "↓", "left": "←", "right": "→", "enter": "enter", "home": "Home", "end": "End",
             "left_square_bracket": "[", "right_square_bracket": "]"}


def display_keys(keys: str) -> str:
    """``slash,f2`` → ``/ f2`` for the help screen."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(",") if k.strip())


def keymap_path() -> Path:
    """Where the key file is looked for (it need not exist)."""
    env = os.environ.get("DICOMSNIFF_KEYS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "dicomsniff" / "keys.toml"


@dataclass
class Keys:
    """The keys in force: ``keymap`` (id → keys, only the remapped ones) and the problems found."""

    path: Path | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def keys(self, action: str) -> str:
        return self.keymap.get(action, ACTIONS[action][0])

    def first(self, action: str) -> str:
        return self.keys(action).split(",")[0].strip()


def _simple_toml(text: str) -> dict:
    """``name = "value"`` lines (what a keys file holds), for Pythons without tomllib."""
    out: dict = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        name, eq, value = line.partition("=")
        if not eq:
            raise ValueError(f"line {n}: expected name = \"keys\"")
        value = value.split("#", 1)[0].strip()
        out[name.strip().strip('"\'')] = value.strip('"\'')
    return out


def _as_keys(value) -> str | None:
    if isinstance(value, str):
        keys = [k.strip() for k in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        keys = [k.strip() for k in value]
    else:
        return None
    keys = [k for k in keys if k]
    if not keys or any(" " in k for k in keys):
        return None
    return ",".join(keys)


def parse_keymap(data: dict) -> tuple[dict[str, str], list[str]]:
    """Check a decoded keys file: (id → keys, problems). A ``[keys]`` table is accepted too."""
    if isinstance(data.get("keys"), dict):
        data = {**{k: v for k, v in data.items() if k != "keys"}, **data["keys"]}
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for name, value in data.items():
        if isinstance(value, dict):          # [list] down = "j" style tables
            for sub, v in value.items():
                data_name = f"{name}.{sub}"
                keys = _as_keys(v)
                if data_name not in ACTIONS:
                    problems.append(f"unknown action {data_name!r}")
                elif keys is None:
                    problems.append(f"{data_name}: keys must be a string like \"ctrl+q\" or a list of them")
                else:
                    keymap[data_name] = keys
            continue
        if name not in ACTIONS:
            problems.append(f"unknown action {name!r} (known: {', '.join(ACTIONS)})")
            continue
        keys = _as_keys(value)
        if keys is None:
            problems.append(f"{name}: keys must be a string like \"ctrl+q\" or a list of them")
            continue
        keymap[name] = keys
    problems.extend(clashes(keymap))
    return keymap, problems


def clashes(keymap: dict[str, str]) -> list[str]:
    """Keys given to two actions of one scope (app-wide, lists, tree), or list keys hiding app keys.

    Only clashes that involve a remapped action are reported (the defaults do not clash).
    """
    out: list[str] = []
    owner: dict[tuple[str, str], str] = {}
    for action, (default, _) in ACTIONS.items():
        scope = action.split(".")[0] if "." in action else "app"
        for k in keymap.get(action, default).split(","):
            k = k.strip()
            prev = owner.get((scope, k))
            if prev is not None and (action in keymap or prev in keymap):
                out.append(f"key {k!r} is given to both {prev} and {action}")
            owner.setdefault((scope, k), action)
    for (scope, k), action in owner.items():
        app_action = owner.get(("app", k))
        if scope == "list" and app_action is not None and (action in keymap or app_action in keymap):
            out.append(f"key {k!r}: {action} takes it in the lists, so {app_action} works only elsewhere")
    return out


def load_keys(path: Path | None = None) -> Keys:
    """Read the keys file (missing: defaults, no problem)."""
    path = keymap_path() if path is None else path
    keys = Keys(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return keys
    except (OSError, UnicodeDecodeError) as e:
        keys.problems.append(f"cannot read {path}: {e}")
        return keys
    try:
        data = tomllib.loads(text) if tomllib is not None else _simple_toml(text)
    except ValueError as e:                # tomllib.TOMLDecodeError is a ValueError
        keys.problems.append(f"{path}: {e}")
        return keys
    keys.keymap, keys.problems = parse_keymap(data)
    return keys


SECTIONS = (("", "Everywhere"), ("list", "In the association list and the ladder"),
            ("tree", "In the field tree (besides Textual's tree keys)"))
HELP_WIDTH = 74


def keys_help(keys: Keys, width: int = HELP_WIDTH) -> str:
    """The key table of the help screen, with the keys in force, wrapped to ``width`` columns."""
    import textwrap
    lines = []
    for scope, title in SECTIONS:
        lines.append(f"  {title}")
        for action, (_, what) in ACTIONS.items():
            if (action.split(".")[0] if "." in action else "") != scope:
                continue
            mark = " *" if action in keys.keymap else ""
            key = display_keys(keys.keys(action))
            text = f"{what}  [{action}]{mark}"
            head = f"    {key:<12} "
            if len(head) > 17:                      # a long key list gets a line of its own
                lines.append(head.rstrip())
                head = " " * 17
            lines.extend(textwrap.wrap(text, width, initial_indent=head.ljust(17), subsequent_indent=" " * 19))
    where = keys.path if keys.path is not None else keymap_path()
    lines.append("")
    lines.append("  Remap keys in")
    lines.append(f"    {where}")                          # whole, however long: a path to copy
    lines.extend(textwrap.wrap("(or the file named by $DICOMSNIFF_KEYS), one line per action, the action's "
                               "name as in [brackets] above:", width, initial_indent="  ", subsequent_indent="  "))
    lines.append('    quit = "ctrl+q"    filter = "f2,slash"    "list.down" = ["down", "j"]')
    lines.extend(textwrap.wrap("Key names as Textual spells them: ctrl+x, shift+tab, f2, slash, question_mark, "
                               "pageup, ...", width, initial_indent="  ", subsequent_indent="  "))
    for p in keys.problems:
        lines.extend(textwrap.wrap(f"problem: {p}", width, initial_indent="  ", subsequent_indent="    "))
    return "\n".join(lines)
