"""The README's "Reliability" table, from the tests that try each case.

Every test function under tests/reliability/ and in tests/flows/test_first_run.py is one
row: its area (bad input, untrusted paths, personal data, faults, concurrency, first
run), its docstring (one sentence, case -> behaviour) and, unless `--no-run`, its result
in a pytest run of exactly those files (read back from pytest's --junitxml). Parametrized
cases share their function's row, with each parameter's result.

    .venv/bin/python bench/reliability_table.py              # runs the tests (~10 min)
    .venv/bin/python bench/reliability_table.py --no-run     # the table from the code only
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header

REPO = Path(__file__).resolve().parents[1]
FILES = [
    *sorted((REPO / "tests" / "reliability").glob("test_*.py")),
    REPO / "tests" / "flows" / "test_first_run.py",
]

# The area of each file's cases; a test named here has an area of its own.
AREAS = {
    "test_bad_input.py": "bad input",
    "test_allowed_labels.py": "bad input",
    "test_quarantine_csv.py": "bad input",
    "test_confinement.py": "untrusted paths",
    "test_pii_everywhere.py": "personal data",
    "test_faults.py": "faults",
    "test_first_run.py": "slow or silent servers",
}
AREA_OF_TEST = {
    "test_a_second_run_on_one_home_waits_for_the_first_and_says_for_whom": "concurrency",
    "test_a_killed_holder_does_not_block_the_next_run": "concurrency",
}
ORDER = [
    "bad input",
    "untrusted paths",
    "personal data",
    "faults",
    "concurrency",
    "slow or silent servers",
]


@dataclass
class Case:
    path: Path
    name: str
    doc: str
    results: dict[str, str] = field(default_factory=dict)  # parameter id ("" if none) -> result
    seconds: float = 0.0

    @property
    def area(self) -> str:
        return AREA_OF_TEST.get(self.name) or AREAS.get(self.path.name, self.path.stem)


def collect(files: list[Path]) -> list[Case]:
    """Every `test_*` function of the files, with its docstring on one line."""
    cases = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = " ".join((ast.get_docstring(node) or "").split())
                cases.append(Case(path, node.name, doc or "(no docstring)"))
    return cases


def run_tests(files: list[Path], cases: list[Case], pytest_args: list[str]) -> None:
    """Run pytest on the files and fill in each case's results from its JUnit XML."""
    by_name = {(c.path.stem, c.name): c for c in cases}
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={xml}",
            *pytest_args,
            *map(str, files),
        ]
        # pytest's own output goes to stderr: stdout is the table alone.
        subprocess.run(cmd, cwd=REPO, check=False, stdout=sys.stderr)
        for testcase in ET.parse(xml).getroot().iter("testcase"):
            module = testcase.get("classname", "").rsplit(".", 1)[-1]
            name, _, param = testcase.get("name", "").partition("[")
            case = by_name.get((module, name))
            if case is None:
                continue
            outcome = "passed"
            for child in testcase:
                if child.tag in ("failure", "error"):
                    outcome = "FAILED"
                elif child.tag == "skipped":
                    outcome = "skipped"
            case.results[param.rstrip("]")] = outcome
            case.seconds += float(testcase.get("time", 0.0))


def result_cell(case: Case) -> str:
    if not case.results:
        return "not run"
    outcomes = set(case.results.values())
    if len(case.results) == 1 and "" in case.results:
        text = case.results[""]
    elif len(outcomes) == 1:
        text = f"{outcomes.pop()} ({', '.join(case.results)})"
    else:
        text = ", ".join(f"{p}: {o}" for p, o in case.results.items())
    return f"{text}, {case.seconds:.0f} s" if case.seconds >= 1 else text


def markdown(cases: list[Case]) -> str:
    rows = ["| area | case → behaviour | test | result |", "|---|---|---|---|"]
    rank = {a: i for i, a in enumerate(ORDER)}
    grouped: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        grouped[case.area].append(case)
    for area in sorted(grouped, key=lambda a: rank.get(a, len(ORDER))):
        for case in grouped[area]:
            doc = case.doc.replace("|", "\\|")
            test = f"`{case.path.name}::{case.name}`"
            rows.append(f"| {area} | {doc} | {test} | {result_cell(case)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="do not run the tests")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    cases = collect(FILES)
    started = time.perf_counter()
    if not args.no_run:
        run_tests(FILES, cases, args.pytest_args)
    command = "python bench/reliability_table.py" + (" --no-run" if args.no_run else "")
    print(header("Reliability: the cases tried, from the tests", command))
    if not args.no_run:
        print(f"# tests ran for {time.perf_counter() - started:.0f} s")
    print()
    print(markdown(cases))
    failed = [c.name for c in cases if "FAILED" in c.results.values()]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
