"""The faults: what a careless or unlucky user lives through, each a scenario that judges what is left on disk.

A scenario returns a `Verdict`: **survived** (nothing lost, and gd said what happened), **lost** (a finished
result was changed, removed or silently replaced, a half run looks finished, or a run used damaged data and
exited 0 with other metrics) or **unclear** (nothing lost, but a traceback, ``unexpected``, no message, a
process that outlived its driver, or a command that could not resume). A scenario that cannot set itself up
raises SetupError (reported as an audit error, not counted for or against gd).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from tools.audit_cases.common import (Fault, Judge, Result, Sandbox, SetupError, Verdict, alive, command_line,
                                      descendants, finished_runs, kill_group, message_problems, refused_cleanly,
                                      require, run_problem, tiny_run, tiny_sweep, tree_hash, wait_for)
from tools.audit_cases.fixtures import GO_DATA, remote_data

# Runs long enough to be signalled mid-way: about 5 s for `gd run`, 6 s for the 4-run sweep on 2 idle cores.
LONG_DATA = ("--assay", "simulated", "--descriptor", "simulated", "--param", "descriptor.n_genes=5000",
             "--param", "descriptor.n_features=8", "--param", "assay.n_genes=5000")
LONG_CYCLES = 40
SWEEP_RUNS = 4
STOPPED_WORDS = ("interrupt", "stopp", "terminat", "resume", "again", "signal", "cancel")


def long_run(out: str, *extra: str) -> tuple[str, ...]:
    """A `gd run` of about 5 s, 40 cycles."""
    return ("run", *LONG_DATA, "--model", "random_forest", "--param", "model.n_estimators=40", "--acquisition",
            "topuncertain", "--batch-size", "20", "--cycles", str(LONG_CYCLES), "--out", out, *extra)


def medium_sweep(out: str, *extra: str) -> tuple[str, ...]:
    """A `gd sweep` of 4 runs of 1–3 s each on 2 workers."""
    return ("sweep", "--assay", "simulated", "--descriptor", "simulated", "--param", "descriptor.n_genes=3000",
            "--param", "descriptor.n_features=8", "--param", "assay.n_genes=3000", "--model", "random_forest",
            "--param", "model.n_estimators=20", "--acquisition", "random", "--acquisition", "topuncertain",
            "--batch-size", "10", "--cycles", "20", "--seeds", "2", "--jobs", "2",
            "--out", out, *extra)


# -------------------------------------------------------------------------------------------- helpers

def deliver(proc: subprocess.Popen, sig: int, *, group: bool) -> None:
    """Send ``sig`` to the process, or to its whole group as a terminal's Ctrl-C does."""
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)


def staged_cycles(work: Path, name: str) -> bool:
    """Whether a run staged beside ``work/name`` has logged its second cycle."""
    for log in work.glob(f".{name}.*/run.log"):
        try:
            if "cycle 2/" in log.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def debris(directory: Path) -> list[str]:
    """Staging or set-aside directories and temporary files left beside results."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir()
                  if p.name.startswith(".") and any(m in p.name for m in (".partial", ".old-", ".tmp", ".json.")))


def check_exit(judge: Judge, result: Result, sig: int) -> None:
    """After SIGINT or SIGTERM gd must exit 130 or 143 with a line saying what happened; others need nothing."""
    if result.timed_out:
        judge.unclear.append(f"still running {result.seconds:.0f}s after {signal.Signals(sig).name} (then killed)")
    elif sig in (signal.SIGINT, signal.SIGTERM):
        wanted = (130,) if sig == signal.SIGINT else (130, 143)
        if result.rc not in wanted:
            expected = " or ".join(map(str, wanted))
            judge.unclear.append(f"exit {result.rc} after {signal.Signals(sig).name}, not {expected}")
        unclear = len(judge.unclear)
        judge.messages(result, needs_message=True, words=STOPPED_WORDS)
        if len(judge.unclear) == unclear:
            judge.verified.append(f"exit {result.rc}, said: {result.lines[-1].strip()[:140]}")
    else:
        judge.messages(result, needs_message=False)


def orphans(judge: Judge, workers: set[int]) -> None:
    """Every process the driver had started must be gone soon after it is; survivors are killed by pid."""
    wait_for(lambda: not any(alive(p) for p in workers), timeout=15)
    survivors = [p for p in workers if alive(p)]
    if survivors:
        shown = ", ".join(f"{p} ({command_line(p)[:60]})" for p in survivors[:3])
        judge.unclear.append(f"{len(survivors)} of its {len(workers)} processes outlived the driver: {shown}")
    elif workers:
        judge.verified.append(f"its {len(workers)} worker processes ended with it")
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def same_metrics(judge: Judge, result: Result, out: Path, baseline: Path, what: str) -> None:
    """A run on damaged data must refuse in one clear line, or run on repaired data with the clean metrics."""
    if result.rc == 0:
        problems = message_problems(result)
        if not (out / "metrics.csv").is_file():
            judge.lost.append("exit 0 but no metrics.csv was published")
        elif (out / "metrics.csv").read_bytes() != baseline.read_bytes():
            judge.lost.append(f"exit 0 on {what} with metrics that differ from the clean run's")
        elif problems:
            judge.unclear.append(f"repaired {what}, same metrics, but with {', '.join(problems)}")
        else:
            judge.verified.append(f"{what} detected or rebuilt: the run's metrics equal the clean run's")
        return
    if refused_cleanly(result):
        judge.verified.append(f"{what} refused: {result.first_line[:160]}")
    else:
        problems = message_problems(result)
        judge.unclear.append(f"{what}: exit {result.rc}, {', '.join(problems) or 'no error line'}: "
                             f"{result.first_line[:160]}")


def dead_pid() -> int:
    """The pid of a process that has just ended (as a crashed gd's would be)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------------------- signals

def run_signalled(sig: int, *, force: bool = False) -> Callable[[Sandbox], Verdict]:
    """`gd run` (or `gd run --force` over a finished run) gets ``sig`` mid-run; then the same command again."""
    def scenario(box: Sandbox) -> Verdict:
        judge, out = Judge(), box.path("out")
        argv = long_run("out", "--force") if force else long_run("out")
        before = None
        if force:
            require(box.gd(long_run("out", "--cycles", "3")), "a finished run to protect")
            before = tree_hash(out)
        proc = box.start(argv)
        if not wait_for(lambda: staged_cycles(box.work, "out"), timeout=120, proc=proc):
            raise SetupError(f"the run never logged cycle 2 (exit {box.finish(proc, timeout=30).rc})")
        deliver(proc, sig, group=sig == signal.SIGINT)
        result = judge.saw(box.finish(proc, timeout=60))
        if result.rc == 0:
            raise SetupError("the run finished before the signal arrived")
        check_exit(judge, result, sig)
        if force:
            if tree_hash(out) != before:
                judge.lost.append("the finished run in --out was changed or removed")
            else:
                judge.verified.append("the finished run in --out is unchanged")
        elif (out / "config.json").exists():
            judge.lost.append("the stopped run was published as finished")
        elif out.exists() and any(out.iterdir()):
            judge.unclear.append("--out holds a partial run")
        else:
            judge.verified.append("nothing was published to --out")
        again = judge.saw(box.gd(argv, timeout=240))
        if again.rc != 0:
            judge.unclear.append(f"the same command did not finish afterwards (exit {again.rc}: {again.first_line})")
        elif problem := run_problem(out, LONG_CYCLES):
            judge.lost.append(problem)
        else:
            judge.verified.append("the same command then finished")
        if left := debris(box.work):
            judge.unclear.append(f"left {', '.join(left)} beside --out")
        return judge.verdict()
    return scenario


def sweep_signalled(sig: int, *, group: bool = False, executor: str = "local", force: bool = False
                    ) -> Callable[[Sandbox], Verdict]:
    """`gd sweep` (its group, or its driver only) gets ``sig`` after a run is published; then it is resumed."""
    def scenario(box: Sandbox) -> Verdict:
        judge, root = Judge(), box.path("sweep")
        argv = medium_sweep("sweep", *(("--executor", executor) if executor != "local" else ()))
        earlier: dict[str, str] = {}
        if force:
            require(box.gd(argv, timeout=240), "a finished sweep to redo")
            earlier = finished_runs(root)
            argv = (*argv, "--force")
        proc = box.start(argv)

        def mid_sweep() -> bool:
            now = finished_runs(root)
            done = sum(now.get(k) != h for k, h in earlier.items()) if force else len(now)
            return 1 <= done < SWEEP_RUNS and bool(descendants(proc.pid))
        if not wait_for(mid_sweep, timeout=180, proc=proc):
            raise SetupError(f"the sweep never reached mid-way (exit {box.finish(proc, timeout=30).rc})")
        workers = descendants(proc.pid)
        published = finished_runs(root)
        deliver(proc, sig, group=group)
        result = judge.saw(box.finish(proc, timeout=90))
        if result.rc == 0:
            raise SetupError("the sweep finished before the signal arrived")
        check_exit(judge, result, sig)
        orphans(judge, workers)
        kill_group(proc.pid)  # whatever is left of the session, before judging the directory
        now = finished_runs(root)
        gone = [k for k in earlier if k not in now and not any((root / "runs").glob(f".{k}.old-*"))]
        if gone:  # a run set aside between two renames is restored by the next sweep, so it is not lost
            judge.lost.append(f"{len(gone)} finished run(s) no longer finished: {', '.join(gone[:3])}")
        changed = [k for k, h in published.items() if now.get(k) != h and not force]
        if changed:
            judge.lost.append(f"{len(changed)} published run(s) changed or removed: {', '.join(changed[:3])}")
        broken = [p for d in (root / "runs").iterdir() if d.is_dir() and (d / "config.json").exists()
                  and (p := run_problem(d))]
        judge.lost += broken
        if not changed and not broken and not gone:
            judge.verified.append(f"all {len(earlier)} finished runs are still finished" if force else
                                  f"the {len(published)} runs published before the signal are intact")
        again = judge.saw(box.gd(argv, timeout=300))
        final = finished_runs(root)
        if again.rc != 0 or len(final) != SWEEP_RUNS:
            judge.unclear.append(f"resuming did not finish the sweep (exit {again.rc}, {len(final)} of {SWEEP_RUNS} "
                                 f"runs): {again.first_line}")
        elif not force and any(final.get(k) != h for k, h in published.items()):
            judge.lost.append("resuming changed runs that were finished")
        else:
            judge.verified.append("the same command then finished every run")
        return judge.verdict()
    return scenario


def worker_killed(box: Sandbox) -> Verdict:
    """One worker of a local sweep is killed (out of memory, say) while it runs; the sweep must go on."""
    judge, root = Judge(), box.path("sweep")
    argv = medium_sweep("sweep")
    proc = box.start(argv)

    def running_worker() -> int | None:
        staged = list((root / "runs").glob(".*partial*")) if (root / "runs").is_dir() else []
        workers = [p for p in descendants(proc.pid) if "spawn_main" in command_line(p)
                   and "resource_tracker" not in command_line(p)]
        return workers[0] if staged and workers and finished_runs(root) else None
    victim = wait_for(running_worker, timeout=180, proc=proc)
    if not victim:
        raise SetupError(f"no worker was seen running a run (exit {box.finish(proc, timeout=30).rc})")
    published = finished_runs(root)
    os.kill(victim, signal.SIGKILL)
    result = judge.saw(box.finish(proc, timeout=240))
    judge.messages(result, needs_message=False)
    if result.rc not in (0, 1):
        judge.unclear.append(f"the sweep ended with exit {result.rc}")
    now = finished_runs(root)
    if any(now.get(k) != h for k, h in published.items()):
        judge.lost.append("runs published before the kill changed")
    judge.lost += [p for d in (root / "runs").iterdir() if d.is_dir() and (d / "config.json").exists()
                   and (p := run_problem(d))]
    again = judge.saw(box.gd(argv, timeout=300))
    if again.rc != 0 or len(finished_runs(root)) != SWEEP_RUNS:
        judge.unclear.append(f"the same command did not complete the sweep (exit {again.rc}): {again.first_line}")
    else:
        judge.verified.append(f"the sweep went on (exit {result.rc}) and the same command completed it")
    return judge.verdict()


# ------------------------------------------------------------------------------------------ concurrency

def concurrent_runs(box: Sandbox) -> Verdict:
    """Two `gd run` of different seeds into one --out at once: one may win, the other must be refused."""
    judge, out = Judge(), box.path("out")
    procs = [box.start(tiny_run("--seed", str(seed), "--cycles", "20", out="out")) for seed in (0, 1)]
    results = [judge.saw(box.finish(p, timeout=180)) for p in procs]
    winners = [seed for seed, r in enumerate(results) if r.rc == 0]
    published = _seed_of(out)
    if len(winners) == 2:
        judge.lost.append(f"both exited 0; --out holds seed {published}'s run, the other's was silently replaced")
    elif len(winners) == 1:
        loser = results[1 - winners[0]]
        if published != winners[0]:
            judge.lost.append(f"--out holds seed {published}, not the run that succeeded (seed {winners[0]})")
        if refused_cleanly(loser):
            judge.verified.append(f"the second was refused: {loser.first_line[:160]}")
        else:
            judge.unclear.append(f"the refused run said: exit {loser.rc}, {loser.first_line[:160]!r}")
    else:
        judge.unclear.append("neither run finished: " + " / ".join(r.first_line[:100] for r in results))
    return judge.verdict()


def _seed_of(out: Path) -> int | None:
    import json

    try:
        return json.loads((out / "config.json").read_text())["settings"]["seed"]
    except (OSError, ValueError, KeyError):
        return None


def concurrent_sweeps(box: Sandbox) -> Verdict:
    """Two identical `gd sweep` into one --out at once: the second is refused or finds the work done."""
    judge, root = Judge(), box.path("sweep")
    argv = tiny_sweep(out="sweep", acquisitions=("random", "topuncertain"), seeds=2)
    procs = [box.start(argv) for _ in range(2)]
    results = [judge.saw(box.finish(p, timeout=240)) for p in procs]
    for r in results:
        if r.rc != 0 and not refused_cleanly(r):
            judge.unclear.append(f"exit {r.rc}: {r.first_line[:160]!r}")
    if not any(r.rc == 0 for r in results):
        judge.unclear.append("neither sweep finished")
    runs = finished_runs(root)
    judge.lost += [p for key in runs if (p := run_problem(root / "runs" / key))]
    if len(runs) != 4:
        judge.unclear.append(f"{len(runs)} of 4 runs finished")
    refused = [r.first_line for r in results if r.rc == 1]
    judge.verified.append(f"all 4 runs finished and intact; exits {[r.rc for r in results]}"
                          + (f"; refused: {refused[0][:120]}" if refused else ""))
    return judge.verdict()


# ----------------------------------------------------------------------------------- crashes and failures

def run_crashed_between_renames(box: Sandbox) -> Verdict:
    """`gd run --force` died between its two renames: the old run sits in .out.old-PID and out is gone."""
    judge, out = Judge(), box.path("out")
    require(box.gd(tiny_run(out="out")), "a finished run")
    before = tree_hash(out)
    os.rename(out, box.path(f".out.old-{dead_pid()}"))
    result = judge.saw(box.gd(tiny_run("--seed", "1", out="out")))
    restored = tree_hash(out) == before
    if result.rc == 0:
        judge.lost.append("the next gd run without --force overwrote the finished run it should have restored")
    elif not restored and not any(box.work.glob(".out.old-*")):
        judge.lost.append("the set-aside run is gone")
    else:
        judge.messages(result, needs_message=False)
        judge.verified.append(f"refused ({result.first_line[:120]}); the old run is "
                              f"{'restored' if restored else 'still set aside'}")
    return judge.verdict()


def sweep_crashed_between_renames(box: Sandbox) -> Verdict:
    """A sweep died between the two renames of a redo: runs/.KEY.old-PID holds the finished run, KEY is gone."""
    judge = Judge()
    box.copy(box.fixtures.path("sweep", "sweep"), "sweep")
    root = box.path("sweep")
    before = finished_runs(root)
    key = sorted(before)[0]
    os.rename(root / "runs" / key, root / "runs" / f".{key}.old-{dead_pid()}")
    result = judge.saw(box.gd(tiny_sweep(out="sweep", acquisitions=("random", "topuncertain"), seeds=2)))
    judge.messages(result, needs_message=False)
    after = finished_runs(root)
    if after.get(key) != before[key]:
        judge.lost.append(f"run {key} was {'redone' if key in after else 'lost'} instead of restored")
    if result.rc != 0:
        judge.unclear.append(f"the resumed sweep exited {result.rc}: {result.first_line}")
    if not judge.lost:
        judge.verified.append(f"run {key} was restored, not redone")
    return judge.verdict()


def _broken_assay(box: Sandbox) -> None:
    text = box.path("assay.csv").read_text().splitlines()
    box.write("assay.csv", "\n".join([text[0]] + [row.rsplit(",", 1)[0] + ",oops" for row in text[1:]]) + "\n")


def sweep_redo_fails(box: Sandbox) -> Verdict:
    """`gd sweep --force` redoes finished runs on an assay file that has since broken: the runs must be kept."""
    judge, root = Judge(), box.path("sweep")
    for name in ("assay.csv", "descriptor.csv"):
        box.copy(box.fixtures.path("tables", name), name)
    argv = tiny_sweep(out="sweep", seeds=2, data=("--assay", "assay.csv", "--descriptor", "descriptor.csv"))
    require(box.gd(argv), "a sweep on user tables")
    before = finished_runs(root)
    _broken_assay(box)
    result = judge.saw(box.gd((*argv, "--force")))
    judge.messages(result, needs_message=True)
    after = finished_runs(root)
    lost = [k for k, h in before.items() if after.get(k) != h]
    if lost:
        judge.lost.append(f"{len(lost)} of {len(before)} finished runs were replaced by the failed redo")
    else:
        judge.verified.append(f"all {len(before)} finished runs kept (exit {result.rc}: {result.first_line[:120]})")
    return judge.verdict()


def run_redo_fails(box: Sandbox) -> Verdict:
    """`gd run --force` on an assay file that has since broken: the finished run must be kept."""
    judge, out = Judge(), box.path("out")
    for name in ("assay.csv", "descriptor.csv"):
        box.copy(box.fixtures.path("tables", name), name)
    data = ("--assay", "assay.csv", "--descriptor", "descriptor.csv")
    require(box.gd(tiny_run(data=data)), "a run on user tables")
    before = tree_hash(out)
    _broken_assay(box)
    result = judge.saw(box.gd(tiny_run("--force", data=data)))
    judge.messages(result, needs_message=True)
    if tree_hash(out) != before:
        judge.lost.append("the finished run was changed by the failed redo")
    else:
        judge.verified.append(f"the finished run is kept ({result.first_line[:120]})")
    return judge.verdict()


def run_force_over_user_files(box: Sandbox) -> Verdict:
    """`gd run --force` into a run directory where the user also keeps notes: the notes must survive."""
    judge, out = Judge(), box.path("out")
    require(box.gd(tiny_run()), "a finished run")
    (out / "NOTES.txt").write_text("my notes\n")
    before = tree_hash(out)
    result = judge.saw(box.gd(tiny_run("--force")))
    judge.messages(result, needs_message=True)
    if tree_hash(out) != before:
        judge.lost.append("--force deleted or changed files beside the run")
    else:
        judge.verified.append(f"the run and the notes beside it are kept ({result.first_line[:120]})")
    return judge.verdict()


# ------------------------------------------------------------------------------------------------- caches

def _shuffle_rows(path: Path, *, labels_too: bool) -> None:
    """Permute a parquet table's rows: the values against the genes, or whole rows (genes with them)."""
    import numpy as np
    import pandas as pd

    table = pd.read_parquet(path)
    order = np.random.default_rng(1).permutation(len(table))
    if labels_too:
        table = table.iloc[order]
    else:
        table = pd.DataFrame(table.to_numpy()[order], index=table.index, columns=table.columns)
    table.to_parquet(path)


def _scale_one_value(path: Path) -> None:
    import pandas as pd

    table = pd.read_parquet(path)
    table.iloc[len(table) // 2, 0] = table.iloc[len(table) // 2, 0] * 1.5 + 1.0
    table.to_parquet(path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("3")  # a digit stays a digit: still a valid table
    path.write_bytes(bytes(data))


def processed_damaged(damage: Callable[[Path], None], what: str) -> Callable[[Sandbox], Verdict]:
    """The processed gene_ontology (dims=8) table in GD_DATA_DIR is damaged; a run must notice."""
    def scenario(box: Sandbox) -> Verdict:
        judge = Judge()
        shutil.copytree(box.fixtures.box("go_cache").data, box.data, dirs_exist_ok=True)
        tables = sorted((box.data / "processed").glob("*.parquet"))
        if not tables:
            raise SetupError("no processed parquet table in the go_cache fixture")
        for table in tables:
            damage(table)
        result = judge.saw(box.gd(tiny_run(data=GO_DATA)))
        same_metrics(judge, result, box.path("out"), box.fixtures.path("go_cache", "run/metrics.csv"), what)
        return judge.verdict()
    return scenario


def processed_disk_full(box: Sandbox) -> Verdict:
    """The disk fills while the processed table is first written; the next run must not use half a table."""
    judge = Judge()
    first = judge.saw(box.gd(tiny_run(data=GO_DATA, out="first"), limits={"RLIMIT_FSIZE": 200_000}))
    if first.rc == 0:
        judge.verified.append("the run went on without caching")
    else:
        judge.messages(first, needs_message=True, words=("disk", "space", "large", "write", "writ"))
    second = judge.saw(box.gd(tiny_run(data=GO_DATA)))
    same_metrics(judge, second, box.path("out"), box.fixtures.path("go_cache", "run/metrics.csv"),
                 "the cache after a full disk")
    return judge.verdict()


def download_damaged(name: str, damage: Callable[[Path], None] | None, what: str,
                     manifest: bytes | None = None) -> Callable[[Sandbox], Verdict]:
    """A cached download (``name``: pinned or only recorded) or the manifest is damaged; a run must notice."""
    def scenario(box: Sandbox) -> Verdict:
        judge = Judge()
        remote = box.fixtures.box("remote")
        shutil.copytree(remote.data, box.data, dirs_exist_ok=True)
        cached = box.data / "downloads" / f"{name}.csv"
        if not cached.is_file():
            raise SetupError(f"the remote fixture has no cached {cached.name}")
        if damage is not None:
            damage(cached)
        if manifest is not None:
            (box.data / "manifest.json").write_bytes(manifest)
        result = judge.saw(box.gd(tiny_run(data=remote_data(name, remote.path("remote_plugin.py")))))
        same_metrics(judge, result, box.path("out"), remote.path(f"run_{name}/metrics.csv"), what)
        return judge.verdict()
    return scenario


def builtin_download_garbage(box: Sandbox) -> Verdict:
    """Garbage sits in the download cache under achilles's file name (offline): a run must refuse, not use it."""
    judge = Judge()
    box.data.joinpath("downloads").mkdir(parents=True, exist_ok=True)
    box.data.joinpath("downloads", "depmap_20q4_achilles_gene_effect.csv").write_bytes(os.urandom(4096))
    data = ("--assay", "simulated", "--param", "assay.n_genes=600", "--descriptor", "achilles")
    result = judge.saw(box.gd(tiny_run(data=data)))
    if result.rc == 0:
        judge.lost.append("a run used the garbage as the achilles descriptor")
    elif refused_cleanly(result):
        judge.verified.append(f"refused: {result.first_line[:160]}")
    else:
        judge.unclear.append(f"exit {result.rc}: {result.first_line[:160]}")
    return judge.verdict()


# ----------------------------------------------------------------------------------------- full disk

def disk_full_run(box: Sandbox) -> Verdict:
    """`gd run --force` over a finished run when files cannot grow past 2 KB (config.json is ~3 KB)."""
    judge, out = Judge(), box.path("out")
    require(box.gd(tiny_run()), "a finished run")
    before = tree_hash(out)
    result = judge.saw(box.gd(tiny_run("--force", "--seed", "1"), limits={"RLIMIT_FSIZE": 2048}))
    if result.rc == 0:
        raise SetupError("the run fitted in 2 KB files")
    judge.messages(result, needs_message=True, words=("disk", "space", "large", "write", "writ", "full"))
    if tree_hash(out) != before:
        judge.lost.append("the finished run was changed")
    else:
        judge.verified.append(f"the finished run is unchanged; said: {result.first_line[:140]}")
    return judge.verdict()


def disk_full_sweep(where: str) -> Callable[[Sandbox], Verdict]:
    """A sweep resumes on a full disk: ``sweep.json`` cannot be rewritten, or only the runs' files cannot."""
    def scenario(box: Sandbox) -> Verdict:
        judge = Judge()
        box.copy(box.fixtures.path("sweep", "sweep"), "sweep")
        root = box.path("sweep")
        keys = sorted(finished_runs(root))
        for key in keys[:2]:
            shutil.rmtree(root / "runs" / key)  # two runs to redo
        kept = finished_runs(root)
        sweep_json = (root / "sweep.json").stat().st_size
        config = min((root / "runs" / k / "config.json").stat().st_size for k in kept)
        if where == "sweep.json":
            limit = sweep_json // 2
        elif sweep_json + 100 < config:
            limit = (sweep_json + config) // 2
        else:
            raise SetupError(f"sweep.json ({sweep_json} B) is not smaller than config.json ({config} B)")
        # two worker processes, as on any multi-core machine (their logging must not flood stderr either)
        argv = tiny_sweep(out="sweep", acquisitions=("random", "topuncertain"), seeds=2, jobs=2)
        result = judge.saw(box.gd(argv, limits={"RLIMIT_FSIZE": limit}))
        if result.rc == 0:
            raise SetupError(f"the sweep fitted in {limit}-byte files")
        judge.messages(result, needs_message=True, words=("disk", "space", "large", "write", "writ", "full"))
        if any(finished_runs(root).get(k) != h for k, h in kept.items()):
            judge.lost.append("finished runs changed")
        else:
            judge.verified.append(f"the {len(kept)} finished runs are unchanged; said: {result.first_line[:140]}")
        if left := debris(root) + debris(root / "runs"):
            judge.unclear.append(f"left {', '.join(left[:4])}")
        return judge.verdict()
    return scenario


def disk_full_export(box: Sandbox) -> Verdict:
    """`gd data export` over an earlier export when files cannot grow past 100 kB: the old file stays."""
    judge = Judge()
    argv = ("data", "export", "schmidt_2021_il2", "il2.csv")
    require(box.gd(argv), "an export")
    before = tree_hash(box.work)
    result = judge.saw(box.gd((*argv, "--force"), limits={"RLIMIT_FSIZE": 100_000}))  # replacing it is asked for
    if result.rc == 0:
        raise SetupError("the export fitted in 100 kB")
    judge.messages(result, needs_message=True, words=("disk", "space", "large", "write", "writ", "full"))
    if tree_hash(box.work) != before:
        judge.lost.append("the earlier export was changed, or a temporary file was left beside it")
    else:
        judge.verified.append(f"the earlier export is unchanged; said: {result.first_line[:140]}")
    return judge.verdict()


# ----------------------------------------------------------------------------------------- permissions

def read_only_out_parent(box: Sandbox) -> Verdict:
    """`gd run --out ro/new` where ro is read-only and holds a finished run."""
    judge = Judge()
    require(box.gd(tiny_run(out="ro/old")), "a finished run")
    before = tree_hash(box.path("ro"))
    box.path("ro").chmod(0o555)
    result = judge.saw(box.gd(tiny_run(out="ro/new")))
    box.path("ro").chmod(0o755)
    if result.rc == 0:
        judge.lost.append("exit 0 although nothing can be written there")
    elif refused_cleanly(result):
        judge.verified.append(f"refused: {result.first_line[:160]}")
    else:
        judge.unclear.append(f"exit {result.rc}: {', '.join(message_problems(result))} {result.first_line[:160]}")
    if tree_hash(box.path("ro")) != before:
        judge.lost.append("the finished run beside it changed")
    return judge.verdict()


def _read_only_tree(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def read_only_cache(box: Sandbox) -> Verdict:
    """A shared, read-only GD_DATA_DIR holding a complete processed table: a run only needs to read it."""
    judge = Judge()
    shutil.copytree(box.fixtures.box("go_cache").data, box.data, dirs_exist_ok=True)
    _read_only_tree(box.data)
    result = judge.saw(box.gd(tiny_run(data=GO_DATA)))
    if result.rc == 0:
        same_metrics(judge, result, box.path("out"), box.fixtures.path("go_cache", "run/metrics.csv"),
                     "a read-only cache")
    else:
        judge.unclear.append(f"refused to read a complete read-only cache: exit {result.rc}: "
                             f"{result.first_line[:160]}")
    return judge.verdict()


def read_only_sweep(box: Sandbox) -> Verdict:
    """Resuming a sweep whose directory is read-only (two runs to redo): refuse clearly, change nothing."""
    judge = Judge()
    box.copy(box.fixtures.path("sweep", "sweep"), "sweep")
    root = box.path("sweep")
    for key in sorted(finished_runs(root))[:2]:
        shutil.rmtree(root / "runs" / key)
    before = tree_hash(root)
    _read_only_tree(root)
    result = judge.saw(box.gd(tiny_sweep(out="sweep", acquisitions=("random", "topuncertain"), seeds=2)))
    if result.rc == 0:
        judge.lost.append("exit 0 although nothing can be written")
    else:
        judge.messages(result, needs_message=True)
    if tree_hash(root) != before:
        judge.lost.append("the sweep directory changed")
    elif result.rc:
        judge.verified.append(f"refused, nothing changed: {result.first_line[:140]}")
    return judge.verdict()


# --------------------------------------------------------------------------------------------- the list

SIGNALS: Sequence[tuple[str, int]] = (("sigint", signal.SIGINT), ("sigterm", signal.SIGTERM),
                                      ("sigkill", signal.SIGKILL), ("sighup", signal.SIGHUP))
FAULTS: list[Fault] = [
    *[Fault(f"run.{name}", f"{name.upper()} of gd run mid-run" + (" (to its process group, as Ctrl-C does)"
                                                                  if sig == signal.SIGINT else ""),
            run_signalled(sig)) for name, sig in SIGNALS],
    *[Fault(f"run.force.{name}", f"{name.upper()} of gd run --force replacing a finished run",
            run_signalled(sig, force=True)) for name, sig in SIGNALS[:3]],
    Fault("sweep.ctrl_c", "Ctrl-C (SIGINT to the group) of a local gd sweep",
          sweep_signalled(signal.SIGINT, group=True)),
    Fault("sweep.driver.sigterm", "SIGTERM of the local sweep's driver only", sweep_signalled(signal.SIGTERM)),
    Fault("sweep.driver.sigkill", "SIGKILL of the local sweep's driver only", sweep_signalled(signal.SIGKILL)),
    Fault("sweep.dask.driver.sigkill", "SIGKILL of a dask LocalCluster sweep's driver only",
          sweep_signalled(signal.SIGKILL, executor="dask")),
    Fault("sweep.force.sigkill", "SIGKILL of a gd sweep --force redoing finished runs",
          sweep_signalled(signal.SIGKILL, force=True)),
    Fault("sweep.worker.sigkill", "one local worker killed mid-run", worker_killed),
    Fault("concurrent.run", "two gd run into one --out at once", concurrent_runs),
    Fault("concurrent.sweep", "two gd sweep into one --out at once", concurrent_sweeps),
    Fault("crash.run.between_renames", "gd run --force died between its two renames", run_crashed_between_renames),
    Fault("crash.sweep.between_renames", "a sweep died between a redo's two renames", sweep_crashed_between_renames),
    Fault("redo.sweep.force_fails", "gd sweep --force when the redo fails", sweep_redo_fails),
    Fault("redo.run.force_fails", "gd run --force when the redo fails", run_redo_fails),
    Fault("redo.run.force_over_user_files", "gd run --force into a run beside the user's notes",
          run_force_over_user_files),
    Fault("cache.processed.rows_permuted", "processed table: features shuffled against genes",
          processed_damaged(lambda p: _shuffle_rows(p, labels_too=False), "rows permuted against genes")),
    Fault("cache.processed.rows_reordered", "processed table: rows reordered (genes with them)",
          processed_damaged(lambda p: _shuffle_rows(p, labels_too=True), "rows reordered")),
    Fault("cache.processed.one_value", "processed table: one value changed",
          processed_damaged(_scale_one_value, "one value changed")),
    Fault("cache.processed.truncated", "processed table cut in half",
          processed_damaged(_truncate, "a truncated table")),
    Fault("cache.processed.garbage", "processed table replaced by random bytes",
          processed_damaged(_garbage, "random bytes")),
    Fault("cache.processed.disk_full", "the disk fills while the processed table is written", processed_disk_full),
    Fault("cache.download.pinned_flipped", "a pinned download has one byte changed",
          download_damaged("remote_pinned", _flip_byte, "a changed byte in a pinned download")),
    Fault("cache.download.recorded_flipped", "a recorded download has one byte changed",
          download_damaged("remote_recorded", _flip_byte, "a changed byte in a recorded download")),
    Fault("cache.download.truncated", "a recorded download cut in half",
          download_damaged("remote_recorded", _truncate, "a truncated download")),
    Fault("cache.download.manifest_garbage", "the download manifest is garbage",
          download_damaged("remote_recorded", None, "a garbage manifest", manifest=b"\x00{garbage")),
    Fault("cache.download.builtin_garbage", "garbage cached as achilles, offline", builtin_download_garbage),
    Fault("disk_full.run", "gd run --force on a full disk", disk_full_run),
    Fault("disk_full.sweep.sweep_json", "gd sweep resuming when sweep.json cannot be written",
          disk_full_sweep("sweep.json")),
    Fault("disk_full.sweep.runs", "gd sweep resuming when only the runs' files cannot be written",
          disk_full_sweep("runs")),
    Fault("disk_full.export", "gd data export over an earlier export on a full disk", disk_full_export),
    Fault("read_only.out_parent", "gd run --out under a read-only directory", read_only_out_parent),
    Fault("read_only.cache", "a complete, read-only GD_DATA_DIR", read_only_cache),
    Fault("read_only.sweep", "resuming a read-only sweep directory", read_only_sweep),
]
