"""The ``dicomsniff view`` terminal UI (Textual): one file per widget or screen, as toolong does.

``filter.py`` and ``session.py`` know nothing of Textual; ``app.py`` ties the
panes (``association_list``, ``ladder``, ``field_tree``, ``hex_pane``) to the
background loader.
"""
