"""The hostile audit of gd: bad inputs and faults, each run against the installed ``gd``, counted and listed.

    python -m tools.audit [--only PATTERN] [--json FILE] [--jobs N] [--keep] [--list] [--problems-only]

Every case runs real ``gd`` subprocesses (``.venv/bin/gd``) in a private sandbox (``GD_LOAD_PLUGINS=""``, its
own GD_DATA_DIR, HOME and working directory under a temporary directory), never the user's files.

A **bad input** (tools/audit_cases/inputs.py) is judged by what the user sees:
- *clean*: exit 1 and exactly one non-empty line on stderr, with no ``Traceback`` and no ``unexpected``;
- *unclear*: refused (exit ≠ 0) but with a traceback, several lines, ``unexpected``, or an exit code other
  than 1 (the reason says which; "N progress line(s) before the error line" marks a clear error line that
  progress output preceded);
- *wrong*: accepted (exit 0), a crash (killed by a signal, exit ≥ 128), a hang past the case's timeout, or a
  refusal that changed files that were there before.
A few inputs may legitimately be handled rather than refused (a report skipping one damaged run, a CSV with a
BOM): for those, exit 0 is clean when the case's check passes and wrong when it does not.

A **fault** (tools/audit_cases/faults.py) is judged by what is left: *survived*, *lost* (lost or corrupted),
or *unclear* (nothing lost, but a traceback, ``unexpected``, no message, surviving processes, or no resume).
The totals line counts both; ``--json`` writes every case with its argv, exit code, and stdout/stderr heads.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Sequence

from tools.audit_cases.common import (PROCESSES, Case, Fault, Result, Sandbox, SetupError, changed_files,
                                      classify, names_culprit, snapshot)
from tools.audit_cases.faults import FAULTS
from tools.audit_cases.fixtures import Fixtures
from tools.audit_cases.inputs import CASES

REPO = Path(__file__).resolve().parents[1]
HEAD = 1500  # characters of stdout/stderr kept per process in the JSON
INPUT_CLASSES = ("clean", "unclear", "wrong", "error")
FAULT_CLASSES = ("survived", "lost", "unclear", "error")


def select(pattern: str | None, cases: Sequence[Any]) -> list[Any]:
    """The cases whose name matches one of the comma-separated patterns (glob, or else substring)."""
    if not pattern:
        return list(cases)
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]

    def matches(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) if any(c in p for c in "*?[") else p in name for p in patterns)
    return [c for c in cases if matches(c.name)]


def _heads(result: Result) -> dict[str, Any]:
    return {"argv": result.argv, "rc": result.rc, "seconds": round(result.seconds, 2),
            "stdout_head": result.stdout[:HEAD], "stderr_head": result.stderr[:HEAD],
            "stderr_tail": result.stderr[-HEAD:] if len(result.stderr) > HEAD else ""}


def run_input(case: Case, root: Path, gd: Path, fixtures: Fixtures) -> dict[str, Any]:
    """Set up, run and judge one bad input; returns its record."""
    started = time.monotonic()
    record: dict[str, Any] = {"kind": "input", "name": case.name, "group": case.group, "why": case.why,
                              "expect": case.expect, "culprit": case.culprit}
    box = Sandbox(root / case.name, gd, fixtures)
    try:
        if case.setup is not None:
            case.setup(box)
        before = snapshot(box.work, box.data)
        result = box.gd(case.argv, env=case.env, limits=case.limits, timeout=case.timeout)
        changed = changed_files(before, snapshot(box.work, box.data), box.root)
        verdict, reason = classify(case, box, result, changed)
        record.update(_heads(result), outcome=verdict, reason=reason, line=result.first_line,
                      names_culprit=names_culprit(case, result))
    except SetupError as exc:
        record.update(outcome="error", reason=f"audit setup failed: {exc}", argv=list(case.argv))
    except Exception as exc:  # noqa: BLE001 — a bug of the audit must not stop the other cases
        record.update(outcome="error", reason=f"audit bug: {type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(), argv=list(case.argv))
    finally:
        box.cleanup()
    record["seconds"] = round(time.monotonic() - started, 2)
    return record


def run_fault(fault: Fault, root: Path, gd: Path, fixtures: Fixtures) -> dict[str, Any]:
    """Run one fault scenario; returns its record."""
    started = time.monotonic()
    record: dict[str, Any] = {"kind": "fault", "name": fault.name, "group": fault.group, "why": fault.why}
    box = Sandbox(root / fault.name, gd, fixtures)
    try:
        verdict = fault.scenario(box)
        record.update(outcome=verdict.outcome, reason=verdict.reason,
                      processes=[_heads(r) for r in verdict.results])
        record["line"] = verdict.results[-1].first_line if verdict.results else ""
    except SetupError as exc:
        record.update(outcome="error", reason=f"audit setup failed: {exc}")
    except Exception as exc:  # noqa: BLE001
        record.update(outcome="error", reason=f"audit bug: {type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    finally:
        box.cleanup()
    record["seconds"] = round(time.monotonic() - started, 2)
    return record


def audit(inputs: Sequence[Case], faults: Sequence[Fault], *, jobs: int, gd: Path, keep: bool = False,
          progress: bool = True) -> list[dict[str, Any]]:
    """Run the cases ``jobs`` at a time (faults first: they take longest) and return their records."""
    root = Path(tempfile.mkdtemp(prefix="gd-audit-"))
    fixtures = Fixtures(root / "fixtures", gd)
    records: list[dict[str, Any]] = []
    total = len(inputs) + len(faults)
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_fault, f, root / "faults", gd, fixtures) for f in faults]
            futures += [pool.submit(run_input, c, root / "inputs", gd, fixtures) for c in inputs]
            for future in as_completed(futures):
                record = future.result()
                records.append(record)
                if progress:
                    print(f"[{len(records)}/{total}] {record['name']}: {record['outcome']} ({record['seconds']}s)",
                          file=sys.stderr, flush=True)
    finally:
        PROCESSES.kill_all()
        if keep:
            print(f"sandboxes kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return sorted(records, key=lambda r: (r["kind"] != "input", r["name"]))


def totals(records: Sequence[dict[str, Any]]) -> str:
    """The totals line: bad inputs tried/clean/unclear/wrong; faults tried/survived/lost/unclear."""
    def count(kind: str, outcome: str) -> int:
        return sum(r["kind"] == kind and r["outcome"] == outcome for r in records)
    inputs = sum(r["kind"] == "input" and r["outcome"] != "error" for r in records)
    faults = sum(r["kind"] == "fault" and r["outcome"] != "error" for r in records)
    line = (f"bad inputs: {inputs} tried, {count('input', 'clean')} clean, {count('input', 'unclear')} unclear, "
            f"{count('input', 'wrong')} wrong; faults: {faults} tried, {count('fault', 'survived')} survived, "
            f"{count('fault', 'lost')} lost/corrupted, {count('fault', 'unclear')} unclear")
    errors = count("input", "error") + count("fault", "error")
    return line + (f" ({errors} could not be set up; see their reasons)" if errors else "")


def breakdown(records: Sequence[dict[str, Any]]) -> list[str]:
    """Secondary counts: why inputs were unclear, and clean refusals that do not name their culprit."""
    unclear = [r for r in records if r["kind"] == "input" and r["outcome"] == "unclear"]
    progress_only = sum("progress line(s) before the error line" in r["reason"] and ";" not in r["reason"]
                        for r in unclear)
    unnamed = [r["name"] for r in records if r["kind"] == "input" and r["outcome"] == "clean"
               and r.get("names_culprit") is False]
    lines = []
    if unclear:
        lines.append(f"of the {len(unclear)} unclear inputs, {progress_only} have one clear error line preceded "
                     "only by progress lines")
    lines.append(f"clean refusals that do not contain their culprit's name: {len(unnamed)}"
                 + (f" ({', '.join(unnamed[:8])}{', …' if len(unnamed) > 8 else ''})" if unnamed else ""))
    return lines


def print_table(records: Sequence[dict[str, Any]]) -> None:
    """One row per case: name, outcome, exit code, seconds, and the line a user reads (or the reason)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Column, Table

    colours = {"clean": "green", "survived": "green", "unclear": "yellow", "wrong": "red", "lost": "red",
               "error": "magenta"}
    table = Table(Column("case", no_wrap=True), "outcome", Column("exit", justify="right"),
                  Column("s", justify="right"), Column("stderr line / reason", overflow="fold"),
                  title="gd hostile audit")
    for r in records:
        shown = r["reason"]
        if r["kind"] == "input" and r.get("line"):  # what the user read, after why it is not clean
            shown = r["line"] if r["outcome"] == "clean" and r.get("rc") else f"{r['reason']}: {r['line']}"
        table.add_row(r["name"], f"[{colours[r['outcome']]}]{r['outcome']}[/]", str(r.get("rc", "")),
                      f"{r['seconds']:.0f}", escape(shown[:300]))
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)


def main(argv: list[str] | None = None) -> int:
    """Run the audit; exit 0 when every case ran (whatever gd did), 2 when the audit itself failed somewhere."""
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated globs or substrings of case names (e.g. 'run.seed*,spec.')")
    parser.add_argument("--json", type=Path, help="write every case's record to this file")
    parser.add_argument("--jobs", type=int, default=2, help="cases at once (default 2)")
    parser.add_argument("--gd", type=Path, default=REPO / ".venv" / "bin" / "gd", help="the gd executable")
    parser.add_argument("--keep", action="store_true", help="keep the sandboxes (their path is printed)")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument("--problems-only", action="store_true",
                        help="show only the cases that are not clean or survived in the table (the totals count all)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not args.gd.is_file():
        parser.error(f"--gd {args.gd} does not exist; install gd into .venv first")
    inputs, faults = select(args.only, CASES), select(args.only, FAULTS)
    if args.list:
        for item in [*faults, *inputs]:
            print(f"{item.name}\t{item.why}")
        return 0
    if not inputs and not faults:
        parser.error(f"--only {args.only!r} matches no case; see --list")
    started = time.monotonic()
    records = audit(inputs, faults, jobs=args.jobs, gd=args.gd.resolve(), keep=args.keep)
    print_table([r for r in records if not args.problems_only or r["outcome"] not in ("clean", "survived")])
    for line in breakdown(records):
        print(line)
    print(f"audit of {len(records)} cases took {time.monotonic() - started:.0f}s with --jobs {args.jobs}")
    print(totals(records))
    if args.json:
        args.json.write_text(json.dumps({"totals": totals(records), "records": records}, indent=1) + "\n")
    return 2 if any(r["outcome"] == "error" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
