#!/usr/bin/env python3
"""Mutation testing of the decoder modules with mutmut (PyPI), one worker, each module against its own unit tests.

    python3 scripts/mutate.py dimse/command_set.py                  # every mutant of one module
    python3 scripts/mutate.py ul/dissect.py --sample 200 --seed 12  # a seeded random sample of them
    python3 scripts/mutate.py ul/dissect.py --show                  # also print each surviving mutant's diff
    python3 scripts/mutate.py ul/dissect.py --names survivors.txt   # only these mutants (one name a line)

The tracked files of the work tree are copied to a scratch directory (``--workdir``, default a new temporary
one), a ``[tool.mutmut]`` section naming the module and its test files is appended to the copy's
pyproject.toml, and ``mutmut run --max-children 1`` runs there, so nothing in the work tree changes and
other people's half-done edits are never mutated. Property tests (hypothesis) are deselected
(``-m "not hypothesis"``): the score counts deterministic tests only. A mutant whose tests time out
counts as killed (an infinite loop is caught). Equivalent mutants are the names listed in backticks in
tests/MUTATION.md; the score is killed / (evaluated - equivalent). Mutant names are numbered per
function by mutmut: after a source change, re-check the equivalent list (see tests/MUTATION.md).

Needs ``pip install mutmut`` (3.x). Exit status 0 when every evaluated non-equivalent mutant was killed,
1 otherwise, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module (under dicomsniff/) -> its own unit test files. Integration tests are left out on purpose:
# a mutant must be caught by the tests of the layer it is in.
MODULES: dict[str, list[str]] = {
    "ul/dissect.py": ["tests/test_ul_dissect.py", "tests/test_mutation_regressions.py"],
    "ul/tables.py": ["tests/test_ul_tables.py", "tests/test_ul_dissect.py"],
    "ul/detect.py": ["tests/test_ul_detect.py"],
    "dimse/command_set.py": ["tests/test_dimse_command_set.py", "tests/test_dimse_commands.py",
                             "tests/test_dimse_status.py", "tests/test_mutation_regressions.py"],
    "dimse/commands.py": ["tests/test_dimse_commands.py", "tests/test_dimse_command_set.py"],
    "dimse/status.py": ["tests/test_dimse_status.py", "tests/test_dimse_command_set.py"],
    "ul/framer.py": ["tests/test_ul_framer.py", "tests/test_chunking.py", "tests/test_mutation_framer.py"],
    "tcp/reassembly.py": ["tests/test_tcp_reassembly.py", "tests/test_mutation_reassembly.py"],
    "dimse/assembler.py": ["tests/test_dimse_assembler.py", "tests/test_mutation_assembler.py"],
}
# The diagnosis: each rule module, the evidence and the association model, against the rule tests.
_RULE_TESTS = ["tests/test_rules_catalogue.py", "tests/test_rules_failure_hints.py", "tests/test_rules_negotiation.py",
               "tests/test_rules_statuses.py", "tests/test_rules_termination.py", "tests/test_model_diagnosis.py",
               "tests/test_evidence.py", "tests/test_model_association.py", "tests/test_mutation_rules.py"]
for _m in ("base", "capture", "closing", "declared", "model", "negotiation", "performance", "protocol",
           "registry", "statuses", "subassoc", "termination"):
    MODULES[f"model/rules/{_m}.py"] = _RULE_TESTS
MODULES["model/rules"] = _RULE_TESTS          # the whole rule package in one run (a sample spans every rule)
MODULES["model/evidence.py"] = _RULE_TESTS
MODULES["model/association.py"] = _RULE_TESTS
STATUSES = ("killed", "timeout", "survived", "no tests", "not checked", "suspicious", "skipped", "segfault",
            "caught by type check")


def equivalents() -> set[str]:
    """Mutant names marked equivalent in tests/MUTATION.md (any backticked mutmut name)."""
    note = ROOT / "tests" / "MUTATION.md"
    if not note.exists():
        return set()
    return set(re.findall(r"`(dicomsniff\.[\w.ǁ]+__mutmut_\d+)`", note.read_text(encoding="utf-8")))


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def configure(work: Path, module: str) -> None:
    tests = [t for t in MODULES[module] if (work / t).exists()]
    section = f"""

[tool.mutmut]
source_paths = ["dicomsniff/{module}"]
also_copy = ["dicomsniff", "tests", "captures"]
pytest_add_cli_args_test_selection = {tests!r}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-m", "not hypothesis"]
""".replace("'", '"')
    with open(work / "pyproject.toml", "a", encoding="utf-8") as fp:
        fp.write(section)


def mutmut(work: Path, *args: str, timeout: int = 7200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=work, capture_output=True, text=True,
                          timeout=timeout)


def results(work: Path) -> dict[str, str]:
    out = mutmut(work, "results", "--all", "true").stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and status in STATUSES:
            found[name] = status
    return found


def run_module(module: str, args: argparse.Namespace) -> int:
    work = Path(args.workdir) / module.replace("/", "_") if args.workdir else \
        Path(tempfile.mkdtemp(prefix="mutate-" + module.replace("/", "_") + "-"))
    if work.exists() and any(work.iterdir()):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    copy_tree(work)
    configure(work, module)
    # Generate the mutants and the test statistics without running any mutant (a name that matches none).
    mutmut(work, "run", "--max-children", "1", "dicomsniff.none__mutmut_0")
    names = sorted(results(work))
    if not names:
        print(f"{module}: mutmut generated no mutants (see {work})", file=sys.stderr)
        return 2
    # A seeded shuffle, then its first N: the same N mutants for a given seed and source.
    chosen = sorted(random.Random(args.seed).sample(names, len(names))[:args.sample]) if args.sample else names
    if args.names:
        wanted = {line.strip() for line in Path(args.names).read_text().splitlines() if line.strip()}
        chosen = [n for n in chosen if n in wanted]
    print(f"{module}: {len(names)} mutants generated, running {len(chosen)} (one worker) in {work}", flush=True)
    for i in range(0, len(chosen), 200):         # bounded command lines
        mutmut(work, "run", "--max-children", "1", *chosen[i:i + 200])
    status = results(work)
    eq = equivalents()
    got = {n: status.get(n, "not checked") for n in chosen}
    killed = [n for n, s in got.items() if s in ("killed", "timeout", "caught by type check", "segfault")]
    survived = [n for n, s in got.items() if s not in ("killed", "timeout", "caught by type check", "segfault")]
    equiv = [n for n in survived if n in eq]
    live = [n for n in survived if n not in eq]
    nonequiv = len(chosen) - len(equiv)
    score = 100.0 * len(killed) / nonequiv if nonequiv else 100.0
    print(f"{module}: generated {len(names)}, evaluated {len(chosen)}, killed {len(killed)}"
          f" (timeouts {sum(1 for n in killed if got[n] == 'timeout')}), survived {len(survived)},"
          f" of which equivalent {len(equiv)}; killed {score:.1f} % of non-equivalent mutants")
    for n in live:
        print(f"  survived: {n} ({got[n]})")
        if args.show:
            print(mutmut(work, "show", n).stdout)
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not live else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", default=["ul/dissect.py", "dimse/command_set.py"],
                    help=f"modules under dicomsniff/ (default: ul/dissect.py dimse/command_set.py); any of"
                         f" {', '.join(MODULES)}")
    ap.add_argument("--sample", type=int, default=0, help="run a random sample of this many mutants per module")
    ap.add_argument("--seed", type=int, default=12, help="seed of the sample (default 12)")
    ap.add_argument("--names", help="a file of mutant names (one a line): run only those (e.g. earlier survivors)")
    ap.add_argument("--workdir", help="scratch directory (kept); default: a temporary one, removed")
    ap.add_argument("--keep", action="store_true", help="keep the temporary scratch directory")
    ap.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    args = ap.parse_args()
    if shutil.which("git") is None:
        print("mutate: git is needed to list the tracked files", file=sys.stderr)
        return 2
    try:
        import mutmut  # noqa: F401
    except ImportError:
        print("mutate: pip install mutmut (3.x)", file=sys.stderr)
        return 2
    worst = 0
    for m in args.modules:
        m = m.removeprefix("dicomsniff/")
        if m not in MODULES:
            print(f"mutate: unknown module {m!r}; one of {', '.join(MODULES)}", file=sys.stderr)
            return 2
        worst = max(worst, run_module(m, args))
    return worst


if __name__ == "__main__":
    sys.exit(main())
