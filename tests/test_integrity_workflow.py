"""The workflow under hostile paths, interruptions and concurrent runs (issue 14)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eoxai.checksums import sidecar_path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
#: a results folder name the shell would mangle or execute if it were interpolated unquoted
HOSTILE = "r $(touch PWNED) it's;x `touch PWNED2`"


def snakemake(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _no_pwned(*folders: Path) -> None:
    for folder in folders:
        hits = [p for p in folder.rglob("PWNED*")] if folder.is_dir() else []
        assert hits == [], f"a shell command was injected: {hits}"


# ---------------------------------------------------------------------- 2. shell-safe workflow
@pytest.mark.pipeline
@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_every_shell_command_quotes_the_results_dir(profile, tmp_path):
    """Lint on the real commands: every token holding the hostile folder holds it whole (one argument)."""
    results = tmp_path / HOSTILE
    out = snakemake("-n", "--cores", "1", "--forceall", "--printshellcmds", "--config", f"profile={profile}",
                    f"results_dir={results}")
    assert out.returncode == 0, out.stderr[-3000:]
    commands = [line.split("Shell command: ", 1)[1] for line in out.stdout.splitlines() if "Shell command: " in line]
    commands = [c for c in commands if c != "None"]  # rule `all` has no command
    assert len(commands) >= 24  # every notebook rule and its record, the patch-size cells and the manifest
    for cmd in commands:
        tokens = shlex.split(cmd)  # POSIX shell word splitting, without running anything
        assert not any("$(" in t or "`" in t for t in tokens if str(results) not in t), cmd
        holding = [t for t in tokens if "PWNED" in t]
        assert holding and all(str(results) in t for t in holding), cmd
        assert tokens[0] == sys.executable and tokens[1] == "-m"
    _no_pwned(ROOT, tmp_path)


def _command_text(source: str) -> list[str]:
    """The lines that build shell commands: every `shell:` block and the body of `notebook_cmd`."""
    lines, out, inside = source.splitlines(), [], False
    for line in lines:
        stripped = line.strip()
        if stripped in ("shell:",) or stripped.startswith("def notebook_cmd("):
            inside = True
            continue
        if inside and stripped and not line.startswith(" "):
            inside = False
        if inside and (stripped.startswith(("f\"", "\"", "notebook_cmd(")) or "-m eoxai." in stripped):
            out.append(stripped)
        if inside and stripped.startswith(("rule ", "def ")):
            inside = False
    return out


def test_no_unquoted_interpolation_in_the_workflow_source():
    """Static lint: in shell commands, Python values enter through q()/set_args() and Snakemake
    placeholders carry :q (only {threads}, an int from the rule, is exempt)."""
    import re

    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    checked = 0
    for f in files:
        # every rule is a quoted shell command: a `run:` rule got the hostile folder's `$(...)` expanded
        # by a shell in Snakemake 9.27 (its inputs were looked up under the expanded name)
        assert not re.search(r"^\s+run:", f.read_text(), re.M), f"{f.name}: a rule with run:"
        for line in _command_text(f.read_text()):
            is_f = line.startswith("f\"")
            body = re.sub(r"\{\{threads\}\}" if is_f else r"\{threads\}", "", line)
            snake = re.findall(r"\{\{([^{}]*)\}\}", body) if is_f else re.findall(r"\{([^{}]*)\}", body)
            assert all(ph.endswith(":q") for ph in snake), f"{f.name}: unquoted placeholder in {line}"
            if is_f:  # `template`: literal fragments, linted where notebook_cmd is called
                python = re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", re.sub(r"\{\{[^{}]*\}\}", "", body))
                assert all(ph.startswith(("q(", "set_args(")) or ph == "template" for ph in python), \
                    f"{f.name}: unquoted value in {line}"
            checked += 1
    assert checked >= 8


@pytest.mark.pipeline
def test_first_rule_runs_into_a_hostile_results_dir_literally(tmp_path):
    results = tmp_path / HOSTILE
    # the first rule and its record (rule provenance_record adds the wall time of the job's benchmark)
    run = snakemake(str(results / "provenance" / "01_data_fusion.json"), "--cores", "1", "--config", "profile=smoke",
                    f"results_dir={results}")
    assert run.returncode == 0, run.stderr[-4000:]
    _no_pwned(ROOT, tmp_path)  # nothing ran: no file made by the injected commands (their cwd is the project root)
    assert (results / "interim" / "sen1floods11.nc").is_file()
    record = json.loads((results / "provenance" / "01_data_fusion.json").read_text())
    assert record["rule"] == "fusion" and record["wall_time_s"] > 0
    recorded = record["parameters"]["results_dir"]  # relative to the project root (issue 12), never re-parsed
    assert not Path(recorded).is_absolute() and (ROOT / recorded).resolve() == results.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == [HOSTILE]  # outputs only in that literal folder
    assert not (results / ".eoxai.lock").exists()  # the run's lock is released


# ---------------------------------------------------------------------- 5. one writer per results folder
HOLD = """
import sys
from eoxai.lock import acquire
acquire(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


def _holder(results: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(results)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.pipeline
def test_second_run_stops_at_once_naming_the_holder(tmp_path):
    results = tmp_path / "shared results"
    holder = _holder(results)
    try:
        run = snakemake("--cores", "1", "--config", "profile=smoke", f"results_dir={results}")
        msg = run.stdout + run.stderr
        assert run.returncode != 0
        assert f"pid {holder.pid} on host {socket.gethostname()}" in msg and "started 20" in msg
        assert "python -m eoxai.lock clear" in msg
        assert sorted(p.name for p in results.iterdir()) == [".eoxai.lock"]  # nothing ran
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert not (results / ".eoxai.lock").exists()  # released when the holder exits


def test_stale_lock_is_detected_and_taken_over(tmp_path):
    from eoxai.lock import ResultsLockedError, acquire, check_free, clear, read_holder, release

    results = tmp_path / "r"
    killed = _holder(results)
    killed.send_signal(signal.SIGKILL)  # no clean-up: the lock stays behind
    killed.wait(timeout=60)
    stale = read_holder(results)
    assert stale["pid"] == killed.pid
    status = subprocess.run([sys.executable, "-m", "eoxai.lock", "status", str(results)], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "lib")})
    assert status.stdout.startswith("stale:")
    check_free(results)  # a dead holder on this host does not block
    acquire(results, release_at_exit=False)
    assert read_holder(results)["pid"] == os.getpid()
    assert release(results) and read_holder(results) is None
    # a lock from another host cannot be checked: an error, cleared by hand with --force
    (results / ".eoxai.lock").write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": "x"}))
    with pytest.raises(ResultsLockedError, match="pid 1 on host elsewhere"):
        acquire(results)
    with pytest.raises(ResultsLockedError, match="--force"):
        clear(results)
    clear(results, force=True)
    assert read_holder(results) is None


def test_two_processes_racing_for_one_lock_one_wins(tmp_path):
    results = tmp_path / "r"
    code = ("import sys\nfrom eoxai.lock import acquire, ResultsLockedError\n"
            "try:\n    acquire(sys.argv[1]); print('won', flush=True); sys.stdin.read()\n"
            "except ResultsLockedError as e:\n    print('lost', e, flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(results)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        first = [p.stdout.readline().split()[0] for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=60)
    assert sorted(first) == ["lost", "won"]


# ---------------------------------------------------------------------- 4. interrupted training keeps finished runs
def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), deepest first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out[::-1]


def _weights(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    from eoxai.checkpoint import read_checkpoint

    return {p.relative_to(folder).as_posix(): read_checkpoint(p)["state_dict"] for p in sorted(folder.rglob("*.pt"))}


@pytest.mark.pipeline
def test_killed_training_job_keeps_finished_runs_and_ends_like_an_uninterrupted_one(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    target = "notebooks/02_training_seed0.ipynb"
    run = snakemake(f"{full}/{target}", "--cores", "1", "--config", "profile=smoke", f"results_dir={full}")
    assert run.returncode == 0, run.stderr[-4000:]
    # the interrupted folder starts from the same fused cubes (notebook 01's outputs, times kept)
    for sub in ("notebooks/01_data_fusion.ipynb", "logs/01_data_fusion.record.json", "benchmarks/01_data_fusion.tsv",
                "interim", "tables", "figures"):
        src = full / sub
        if src.is_dir():
            shutil.copytree(src, cut / sub, ignore=shutil.ignore_patterns("training*", "*training*"))
        else:
            (cut / sub).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, cut / sub)
    shutil.rmtree(cut / "interim" / "training", ignore_errors=True)
    first = cut / "interim" / "training" / "sen1floods11" / "manet_mit-all-seed0.pt"

    proc = subprocess.Popen([*SNAKEMAKE, f"{cut}/{target}", "--cores", "1", "--config", "profile=smoke",
                             f"results_dir={cut}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while not sidecar_path(first).exists() and proc.poll() is None:
            time.sleep(0.1)
        for pid in _descendants(proc.pid):  # kill the job (runner, kernel), as an OOM killer would
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, log[-3000:]  # the job was interrupted
    assert not (cut / "models" / "sen1floods11" / first.name).exists()  # Snakemake removed the job's outputs
    # a finished run's SHA-256 (its checkpoint records the training time, so a retrained run differs)
    kept = {p: sidecar_path(p).read_text() for p in (cut / "interim" / "training").rglob("*.pt")
            if not p.name.endswith(".state.pt")}
    assert first in kept and len(kept) < 6  # the first run had finished, the job had not

    rerun = snakemake(f"{cut}/{target}", "--cores", "1", "--config", "profile=smoke", f"results_dir={cut}")
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert all(sidecar_path(p).read_text() == digest for p, digest in kept.items())  # not trained again
    notebook = (cut / target).read_text()
    assert notebook.count("reused the finished run") == len(kept)
    assert len(list((cut / "interim" / "training").rglob("*.pt"))) == 6
    reference, resumed = _weights(full / "models"), _weights(cut / "models")
    assert sorted(resumed) == sorted(reference) and len(reference) == 6
    for name, state in reference.items():
        assert state.keys() == resumed[name].keys()
        assert all(torch.equal(state[k], resumed[name][k]) for k in state), f"{name} differs"
    leftovers = [p for p in cut.rglob("*") if p.name.endswith((".tmp", ".state.pt"))]
    assert leftovers == []
    assert not (cut / ".eoxai.lock").exists()
