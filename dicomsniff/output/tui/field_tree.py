"""The bottom-left pane: the field tree of the selected PDU or message, built on demand.

Walks the one :class:`~dicomsniff.field.Field` tree the dissector made (never
re-parses). Children of deep nodes (sequence items, big data sets) are added
when their node is first expanded. Every label is a literal Rich ``Text``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...field import Field
from ...textsafe import safe_text

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan", "chat": "dim"}
EAGER_DEPTH = 2


@dataclass
class FieldRef:
    """What a tree node stands for: a field of one unit ("pdu", "command" or "data")."""

    field: Field
    unit: str
    populated: bool = False


def field_label(f: Field) -> Text:
    """``label: display`` as literal text, with a finding marker when the field has findings."""
    label = Text(safe_text(f.label), style="bold" if f.children else "")
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
    ]
    DEFAULT_CSS = """
    FieldTree { border: round $primary 50%; width: 1fr; height: 1fr; }
    FieldTree:focus { border: round $accent; }
    """

    def __init__(self, **kwargs):
        super().__init__(Text("(nothing selected)"), **kwargs)
        self.border_title = "Fields"
        self.show_root = True
        self.guide_depth = 3

    def _add(self, parent: TreeNode, f: Field, unit: str, depth: int) -> TreeNode:
        ref = FieldRef(f, unit)
        if not f.children:
            return parent.add_leaf(field_label(f), data=ref)
        node = parent.add(field_label(f), data=ref, expand=depth < EAGER_DEPTH)
        if depth < EAGER_DEPTH:
            self._populate(node, depth)
        return node

    def _populate(self, node: TreeNode, depth: int = EAGER_DEPTH) -> None:
        ref = node.data
        if not isinstance(ref, FieldRef) or ref.populated:
            return
        ref.populated = True
        for child in ref.field.children:
            self._add(node, child, ref.unit, depth + 1)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        if event.node.tree is self:
            self._populate(event.node)

    def show_units(self, title: Text, units: list[tuple[str, Field]]) -> None:
        """Show these (unit, root field) trees under a root labelled ``title``."""
        self.clear()
        self.root.set_label(title)
        self.root.data = None
        for unit, root in units:
            self._add(self.root, root, unit, 0)
        self.root.expand()
        self.move_cursor(self.root)

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
        self.move_cursor(node)
        self.call_after_refresh(self.scroll_to_node, node)
        return True

    @property
    def selected_ref(self) -> FieldRef | None:
        node = self.cursor_node
        return node.data if node is not None and isinstance(node.data, FieldRef) else None
