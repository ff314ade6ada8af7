"""The hostile audit (python -m tools.audit) judges what it sees: a smoke test of the tool, not the audit itself.

A stand-in ``gd`` prints what a clear refusal, a traceback, progress before an error, an accepted input or a
crash look like, so the classification is tested apart from whatever gd does today.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tools import audit
from tools.audit_cases.common import Case, Fault, SetupError, Verdict

FAKE_GD = """\
import os, signal, sys
mode = sys.argv[1]
if mode == "refuse":
    sys.exit(print("error: --seed -1 must be a whole number >= 0", file=sys.stderr) or 1)
if mode == "traceback":
    sys.exit(print("Traceback (most recent call last):\\nValueError: boom", file=sys.stderr) or 1)
if mode == "progress":
    sys.exit(print("loading descriptor 'simulated'\\nerror: bad value", file=sys.stderr) or 1)
if mode == "unexpected":
    sys.exit(print("error: unexpected TypeError: '<' not supported", file=sys.stderr) or 1)
if mode == "scribble":
    open("keep.txt", "w").write("changed")
    sys.exit(print("error: refused, but after writing", file=sys.stderr) or 1)
if mode == "crash":
    os.kill(os.getpid(), signal.SIGSEGV)
print("all fine")
"""


@pytest.fixture
def fake_gd(tmp_path) -> Path:
    """An executable stand-in for gd whose first argument says how to behave."""
    path = tmp_path / "gd"
    path.write_text(f"#!{sys.executable}\n{FAKE_GD}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def outcomes(records: list[dict]) -> dict[str, str]:
    return {r["name"]: r["outcome"] for r in records}


def test_each_bad_input_is_judged_clean_unclear_or_wrong(fake_gd):
    cases = [Case("run.refused", ("refuse",), "a clear refusal", culprit="--seed"),
             Case("run.traceback", ("traceback",), "a traceback"),
             Case("run.progress", ("progress",), "progress before the error"),
             Case("run.unexpected", ("unexpected",), "the bug handler's wording"),
             Case("run.accepted", ("accept",), "accepted"),
             Case("run.crash", ("crash",), "killed by a signal"),
             Case("run.scribble", ("scribble",), "changes a file", setup=lambda box: box.write("keep.txt", "kept"))]

    records = audit.audit(cases, [], jobs=2, gd=fake_gd, progress=False)

    assert outcomes(records) == {"run.refused": "clean", "run.traceback": "unclear", "run.progress": "unclear",
                                 "run.unexpected": "unclear", "run.accepted": "wrong", "run.crash": "wrong",
                                 "run.scribble": "wrong"}
    by_name = {r["name"]: r for r in records}
    assert by_name["run.refused"]["names_culprit"] is True
    assert by_name["run.progress"]["reason"] == "1 progress line(s) before the error line"
    assert by_name["run.crash"]["reason"] == "crashed (SIGSEGV)"
    assert "keep.txt" in by_name["run.scribble"]["reason"]
    assert audit.totals(records).startswith("bad inputs: 7 tried, 1 clean, 3 unclear, 3 wrong;")


def test_an_input_gd_may_handle_is_clean_only_when_its_check_passes(fake_gd):
    cases = [Case("report.handled", ("accept",), "reported the rest", expect="tolerate", check=lambda box, r: None),
             Case("report.silent", ("accept",), "damage not listed", expect="tolerate",
                  check=lambda box, r: "the damaged run is not mentioned"),
             Case("report.refused", ("refuse",), "refused in one line", expect="tolerate")]

    records = audit.audit(cases, [], jobs=1, gd=fake_gd, progress=False)

    assert outcomes(records) == {"report.handled": "clean", "report.silent": "wrong", "report.refused": "clean"}


def test_faults_are_counted_and_a_scenario_that_cannot_start_is_not(fake_gd):
    def survived(box):
        result = box.gd(["refuse"])
        return Verdict("survived", f"refused with exit {result.rc}", (result,))

    def cannot_start(box):
        raise SetupError("no fixture")

    faults = [Fault("crash.ok", "survives", survived), Fault("crash.lost", "loses", lambda box: Verdict("lost", "x")),
              Fault("crash.setup", "cannot start", cannot_start)]

    records = audit.audit([], faults, jobs=2, gd=fake_gd, progress=False)

    assert outcomes(records) == {"crash.ok": "survived", "crash.lost": "lost", "crash.setup": "error"}
    assert audit.totals(records) == ("bad inputs: 0 tried, 0 clean, 0 unclear, 0 wrong; faults: 2 tried, 1 survived, "
                                     "1 lost/corrupted, 0 unclear (1 could not be set up; see their reasons)")


def test_gd_runs_in_a_sandbox_with_no_plugins_and_a_private_cache(fake_gd, tmp_path):
    seen = tmp_path / "env.json"
    fake_gd.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                       f"json.dump({{'env': dict(os.environ), 'cwd': os.getcwd()}}, open({str(seen)!r}, 'w'))\n")

    audit.audit([Case("list.env", ("list",), "records its environment")], [], jobs=1, gd=fake_gd, progress=False)

    recorded = json.loads(seen.read_text())
    env, cwd = recorded["env"], Path(recorded["cwd"])
    assert env["GD_LOAD_PLUGINS"] == ""
    assert Path(env["GD_DATA_DIR"]).parent == cwd.parent == Path(env["HOME"]).parent
    assert cwd.name == "work" and cwd.parent.name == "list.env"


def test_the_command_runs_one_real_case_and_writes_its_record(tmp_path):
    report = tmp_path / "audit.json"
    done = subprocess.run([sys.executable, "-m", "tools.audit", "--only", "run.out.file", "--json", str(report)],
                          cwd=Path(audit.__file__).parents[1], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("bad inputs: 1 tried, ")
    (record,) = json.loads(report.read_text())["records"]
    assert record["name"] == "run.out.file" and record["outcome"] in ("clean", "unclear", "wrong")
    assert record["argv"][0] == "run" and "afile" in record["argv"] and isinstance(record["rc"], int)
