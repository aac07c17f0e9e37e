"""The bottom-left pane: the field tree of the selected PDU or message, built on demand.

Walks the one :class:`~dicomsniff.field.Field` tree the dissector made (never
re-parses). A DICOM element is one row, ``(0010,0010) PN [8] PatientName:
DOE^JOHN`` (tag, VR, length, keyword, value), its Tag/VR/Length/Value bytes one
level down and collapsed; sequences open with their items down to
``SEQUENCE_DEPTH`` levels. A command set followed by a data set starts closed
(its own line names the command and message ID), so the data set's elements
are the first rows. Children of collapsed nodes are added when the node
is first expanded. Every label is a literal Rich ``Text``.

Keys (besides Textual's Tree keys): ``→`` opens a node (or goes to its first
child), ``←`` closes it (or goes to its parent), ``g``/``Home`` and
``G``/``End`` go to the first and last row (``End`` on a row of a unit with
bytes also scrolls the hex pane to the highlighted bytes, through
:class:`FieldTree.ShowBytes`), ``a`` posts :class:`FieldTree.ApplyFilter` for
the selected element (the app turns it into a display filter).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...field import Field
from ...textsafe import safe_text

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan", "chat": "dim"}
EAGER_DEPTH = 2          # PDU trees: the PDU and its items open, deeper sub-items on demand
SEQUENCE_DEPTH = 3       # data sets: sequences nested up to this deep open with their items
EAGER_NODES = 3000       # never build more rows than this before the user asks (a big data set)
BYTE_KEYS = ("dicom.tag", "dicom.tag.vr", "dicom.tag.vr.reserved", "dicom.tag.vl")


def is_byte_field(f: Field) -> bool:
    """A Tag / VR / Reserved / Length / Value sub-field of an element (shown only on demand)."""
    return f.key in BYTE_KEYS or (f.key.startswith("dicom.tag.value") and f.label == "Value")


def is_element(f: Field) -> bool:
    """A DICOM element of a command or data set: its first child is its Tag."""
    return bool(f.children) and f.children[0].key == "dicom.tag"


def element_tag(f: Field) -> tuple[int, int] | None:
    """(group, element) of an element field, else None."""
    if not is_element(f):
        return None
    v = f.children[0].value
    return v if isinstance(v, tuple) and len(v) == 2 else None


def element_name(f: Field) -> str:
    """The dictionary name with the tag, ``(0010,0010) Patient's Name`` (the Tag child's display)."""
    return f.children[0].display if is_element(f) else f.label


@dataclass
class FieldRef:
    """What a tree node stands for: a field of one unit ("pdu", "command" or "data")."""

    field: Field
    unit: str
    populated: bool = False
    depth: int = 0                 # nesting of the field below its unit's root
    sequences: int = 0             # sequences above (and including) this field


def field_label(f: Field) -> Text:
    """``label: display`` as literal text, with a finding marker when the field has findings.

    An element shows its tag and VR dim, its keyword bold and its value plain.
    """
    label = Text()
    tag = element_tag(f)
    if tag is not None and f.label.startswith("("):
        head, _, keyword = f.label.partition("] ")
        label.append(safe_text(head + "] "), style="dim")
        label.append(safe_text(keyword), style="bold")
    else:
        label.append(safe_text(f.label), style="bold" if f.children and not is_byte_field(f) else "")
    if f.display != "":
        label.append(": ")
        label.append(safe_text(f.display))
    for x in f.findings[:2]:
        label.append(f"  [{x.severity}] ", style=SEVERITY_STYLE.get(x.severity, ""))
        label.append(safe_text(x.message), style=SEVERITY_STYLE.get(x.severity, ""))
    return label


class FieldTree(Tree):
    """A Textual Tree of Field nodes; highlighting a node posts Tree.NodeHighlighted as usual."""

    BINDINGS = [
        Binding("k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("right", "open_node", "Open", show=False, id="tree.open"),
        Binding("left", "close_node", "Close", show=False, id="tree.close"),
        Binding("home,g", "first", "First", show=False, id="tree.first"),
        Binding("G", "last", "Last", show=False, id="tree.last"),
        Binding("end", "show_bytes", "Bytes", show=False, id="tree.bytes"),
        Binding("a", "apply_filter", "Apply as filter", id="tree.apply_filter"),
    ]
    DEFAULT_CSS = """
    FieldTree { border: round $primary 50%; width: 1fr; height: 1fr; }
    FieldTree:focus { border: round $accent; }
    """

    class ShowBytes(Message):
        """Scroll the hex pane to the selected field's bytes (End)."""

        def __init__(self, ref: FieldRef):
            super().__init__()
            self.ref = ref

    class ApplyFilter(Message):
        """Make a display filter of the selected field (``a``, or the palette)."""

        def __init__(self, ref: FieldRef):
            super().__init__()
            self.ref = ref

    def __init__(self, **kwargs):
        super().__init__(Text("(nothing selected)"), **kwargs)
        self.border_title = "Fields"
        self.show_root = True
        self.guide_depth = 2
        self._built = 0
        self._with_data = False

    # -- building --------------------------------------------------------------------------

    def _opens(self, ref: FieldRef) -> bool:
        """Whether a node starts expanded: PDU fields to EAGER_DEPTH, elements never (their
        children are their bytes), sequences and items down to SEQUENCE_DEPTH."""
        f = ref.field
        if self._built > EAGER_NODES:
            return False
        if ref.unit == "pdu":
            return ref.depth < EAGER_DEPTH
        if ref.depth == 0:                                # the Command Set / Data Set itself; a command set
            return not (ref.unit == "command" and self._with_data)   # closes before a data set (its line
                                                                     # says command and message ID)
        if is_element(f):
            return any(not is_byte_field(c) for c in f.children) and ref.sequences <= SEQUENCE_DEPTH
        if f.key == "dicom.item":
            return ref.sequences <= SEQUENCE_DEPTH
        return ref.depth < EAGER_DEPTH

    def _add(self, parent: TreeNode, f: Field, unit: str, depth: int, sequences: int = 0) -> TreeNode:
        self._built += 1
        if is_element(f) and any(not is_byte_field(c) for c in f.children):
            sequences += 1
        ref = FieldRef(f, unit, depth=depth, sequences=sequences)
        if not f.children:
            return parent.add_leaf(field_label(f), data=ref)
        opens = self._opens(ref)
        node = parent.add(field_label(f), data=ref, expand=opens)
        if opens:
            self._populate(node)
        return node

    def _populate(self, node: TreeNode) -> None:
        ref = node.data
        if not isinstance(ref, FieldRef) or ref.populated:
            return
        ref.populated = True
        f = ref.field
        children = f.children
        if is_element(f) and any(not is_byte_field(c) for c in children):
            # a sequence (or encapsulated pixel data): items first; its header bytes folded into one row
            header = [c for c in children if is_byte_field(c)]
            rest = [c for c in children if not is_byte_field(c)]
            if header:
                start, end = header[0].offset, max(c.end for c in header)
                group = Field("dicom.tag.header", "Header",
                              None, ", ".join(c.label for c in header), start, end - start, list(header))
                self._add(node, group, ref.unit, ref.depth + 1, ref.sequences)
            children = rest
        for child in children:
            self._add(node, child, ref.unit, ref.depth + 1, ref.sequences)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        if event.node.tree is self:
            self._populate(event.node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        """The detail line (the pane's subtitle): the element's name, VR and where its bytes are."""
        ref = event.node.data
        if not isinstance(ref, FieldRef):
            self.border_subtitle = ""
            return
        f = ref.field
        what = safe_text(element_name(f)) if is_element(f) else safe_text(f.key)
        self.border_subtitle = f"{what} · {f.length} bytes at {f.offset}"

    def show_units(self, title: Text, units: list[tuple[str, Field]]) -> None:
        """Show these (unit, root field) trees under a root labelled ``title``."""
        self.clear()
        self._built = 0
        self._with_data = any(unit == "data" for unit, _ in units)
        self.border_subtitle = ""
        self.root.set_label(title)
        self.root.data = None
        for unit, root in units:
            self._add(self.root, root, unit, 0)
        self.root.expand()
        self.move_cursor(self.root)

    # -- finding -----------------------------------------------------------------------------

    def find_node(self, pred) -> TreeNode | None:
        """The first node (in tree order) whose field satisfies ``pred``; expands its ancestors."""
        def visit(node: TreeNode) -> TreeNode | None:
            ref = node.data
            if isinstance(ref, FieldRef):
                if pred(ref.field):
                    return node
                self._populate(node)
            for child in list(node.children):
                hit = visit(child)
                if hit is not None:
                    return hit
            return None
        hit = visit(self.root)
        if hit is not None:
            parent = hit.parent
            while parent is not None:
                parent.expand()
                parent = parent.parent
        return hit

    def select_field(self, pred) -> bool:
        """Move the cursor to the first field satisfying ``pred``; True if found."""
        node = self.find_node(pred)
        if node is None:
            return False
        _ = self.last_line                # lay out the lines the expansion opened (the node's line number)
        self.move_cursor(node)
        self.call_after_refresh(self.scroll_to_node, node, animate=False)
        return True

    @property
    def selected_ref(self) -> FieldRef | None:
        node = self.cursor_node
        return node.data if node is not None and isinstance(node.data, FieldRef) else None

    # -- keys --------------------------------------------------------------------------------

    def action_open_node(self) -> None:
        """→: open a closed node; on an open one (or a leaf) go one row down into it."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_node(self) -> None:
        """←: close an open node; on a closed one (or a leaf) go to its parent."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded and node is not self.root:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)
            self.scroll_to_node(node.parent, animate=False)

    def action_first(self) -> None:
        self.move_cursor(self.root)
        self.scroll_home(animate=False)

    def action_last(self) -> None:
        last = self.last_line
        if last >= 0:
            self.cursor_line = last
            self.scroll_end(animate=False)

    def action_show_bytes(self) -> None:
        """End: the last row if nothing is selected, else scroll the hex pane to this field's bytes."""
        ref = self.selected_ref
        if ref is None:
            self.action_last()
            return
        self.post_message(self.ShowBytes(ref))

    def action_apply_filter(self) -> None:
        ref = self.selected_ref
        if ref is not None:
            self.post_message(self.ApplyFilter(ref))
