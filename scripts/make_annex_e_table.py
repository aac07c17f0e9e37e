"""Generate dicomsniff/anonymize/annex_e.py: the PS3.15 Annex E Basic Profile action table.

Source: the table the ``dicom-anonymizer`` package (KitwareMedical, BSD-3, on PyPI) generates
from the standard's published Table E.1-1 (module
``dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py``, DICOM edition 2026c).
Run ``pip install dicom-anonymizer==2.1.0 && python scripts/make_annex_e_table.py`` to
regenerate; the output names the package version and the source file's SHA-256.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import pathlib

EDITION = "dicomfields_2026c"
CATEGORIES = {   # dicom-anonymizer's list -> the Basic Profile action code of Table E.1-1
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}


def main() -> None:
    mod = importlib.import_module(f"dicomanonymizer.dicom_anonymization_databases.{EDITION}")
    src = pathlib.Path(mod.__file__).read_bytes()
    version = importlib.metadata.version("dicom-anonymizer")
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for name, action in CATEGORIES.items():
        for entry in getattr(mod, name):
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            else:
                g, e, gm, em = entry
                masked.append((g, e, gm, em, action))
    out = pathlib.Path(__file__).resolve().parent.parent / "dicomsniff" / "anonymize" / "annex_e.py"
    lines = [
        '"""PS3.15 Annex E Table E.1-1, Basic Application Level Confidentiality Profile actions (generated).',
        "",
        "Do not edit: made by scripts/make_annex_e_table.py from dicom-anonymizer "
        f"{version} ({EDITION}.py, sha256 {hashlib.sha256(src).hexdigest()}),",
        "which is generated from the standard's published table. Actions: D dummy, Z zero-length or dummy,",
        "X remove, U replace UID; combined codes (X/Z, X/D, X/Z/D, Z/D, X/Z/U*) as in the table.",
        '"""',
        "",
        f"SOURCE = {f'dicom-anonymizer {version} {EDITION}'!r}",
        "",
        "# tag (group << 16 | element) -> action",
        "ACTIONS = {",
        *[f"    0x{k:08X}: {exact[k]!r}," for k in sorted(exact)],
        "}",
        "",
        "# repeating groups: (group, element, group mask, element mask, action)",
        "MASKED = [",
        *[f"    (0x{g:04X}, 0x{e:04X}, 0x{gm:04X}, 0x{em:04X}, {a!r})," for g, e, gm, em, a in sorted(masked)],
        "]",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"{out}: {len(exact)} tags, {len(masked)} masked entries")


if __name__ == "__main__":
    main()
