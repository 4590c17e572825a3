"""One writer per results folder: a lock file inside ``results_dir`` held while a workflow runs.

The Snakefile checks the lock when it is read (so a second run stops before Snakemake looks at
half-written outputs and suggests ``--rerun-incomplete``), takes it in ``onstart`` and releases it
in ``onsuccess``/``onerror`` (and at exit). The lock is a JSON file ``<results_dir>/.eoxai.lock``
naming its holder: host, pid, start time, working directory and command. It is created with
``O_CREAT | O_EXCL``, so of two runs starting together exactly one gets it, from any checkout that
writes to the same folder.

A lock whose holder is gone is stale: on the holder's own host a dead pid is detected and the
lock is taken over (with a message); a lock held from another host cannot be checked from here,
so the error says how to clear it by hand.

Command line (for scripts and for clearing a lock)::

    python -m eoxai.lock status results/
    python -m eoxai.lock clear results/      # only if the holder named by `status` is gone
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eoxai.errors import ResultsLockedError

LOCK_NAME = ".eoxai.lock"


def lock_path(results_dir: str | Path) -> Path:
    """The lock file of ``results_dir``: ``<results_dir>/.eoxai.lock``."""
    return Path(results_dir) / LOCK_NAME


def read_holder(results_dir: str | Path) -> dict[str, Any] | None:
    """The holder recorded in the lock (``host, pid, started, cwd, command``), None if unlocked.

    A lock file that cannot be parsed (a holder killed while writing it) reads as
    ``{"unreadable": <text>}``.
    """
    path = lock_path(results_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    return holder if isinstance(holder, dict) else {"unreadable": text[:200]}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def holder_state(holder: dict[str, Any]) -> str:
    """``"ours"`` (this process), ``"alive"``, ``"stale"`` (same host, pid gone) or ``"unknown"`` (other host)."""
    if "unreadable" in holder or not isinstance(holder.get("pid"), int):
        return "unknown"
    if holder.get("host") != socket.gethostname():
        return "unknown"
    if holder["pid"] == os.getpid():
        return "ours"
    return "alive" if _pid_alive(holder["pid"]) else "stale"


def describe(results_dir: str | Path, holder: dict[str, Any]) -> str:
    """The message for a locked folder: who holds it since when, and how to clear a stale lock."""
    path = lock_path(results_dir)
    if "unreadable" in holder:
        who = f"an unreadable lock file ({holder['unreadable']!r})"
    else:
        who = (f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')} "
               f"in {holder.get('cwd')} ({holder.get('command')})")
    clear = f"python -m eoxai.lock clear {shlex.quote(str(results_dir))}"
    return (f"results folder {results_dir} is in use by another run: {who}. Wait for it to finish, or write to "
            f"another folder (--config results_dir=...). If that run is gone (crashed, killed, machine rebooted), "
            f"clear the stale lock with `{clear}` (or delete {path}) and start again.")


def _record() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "cwd": os.getcwd(), "command": " ".join(shlex.quote(a) for a in sys.argv)[:500]}


def check_free(results_dir: str | Path) -> None:
    """Raise :class:`ResultsLockedError` if another live run (or one on another host) holds the lock.

    A stale lock (same host, pid gone) and this process's own lock pass.
    """
    holder = read_holder(results_dir)
    if holder is not None and holder_state(holder) in ("alive", "unknown"):
        raise ResultsLockedError(describe(results_dir, holder))


def acquire(results_dir: str | Path, *, release_at_exit: bool = True) -> Path:
    """Take the lock of ``results_dir`` (created if missing) for this process; return the lock file.

    Re-entrant within a process. A stale lock (same host, pid gone) is taken over, with a message
    on stderr. Raises :class:`ResultsLockedError` naming the holder otherwise. With
    ``release_at_exit`` the lock is released when the interpreter exits.
    """
    path = lock_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_holder(results_dir)
            if holder is None:  # released in between: try again
                continue
            state = holder_state(holder)
            if state == "ours":
                return path
            if state == "stale":
                print(f"eoxai: taking over the stale lock of {results_dir} (pid {holder['pid']} on "
                      f"{holder['host']}, started {holder.get('started')}, is gone)", file=sys.stderr)
                _remove_if_holder(path, holder)
                continue
            raise ResultsLockedError(describe(results_dir, holder)) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(_record(), fh, indent=1)
            fh.write("\n")
        if release_at_exit:
            atexit.register(release, results_dir)
        return path
    raise ResultsLockedError(f"could not take the lock {path}: other runs keep taking it; try again")


def _remove_if_holder(path: Path, holder: dict[str, Any]) -> None:
    """Delete the lock file only if it still names ``holder`` (not a run that took it meanwhile)."""
    current = read_holder(path.parent)
    if current == holder:
        path.unlink(missing_ok=True)


def release(results_dir: str | Path) -> bool:
    """Release the lock if this process holds it; return whether it did. Never removes another's lock."""
    holder = read_holder(results_dir)
    if holder is not None and holder_state(holder) == "ours":
        _remove_if_holder(lock_path(results_dir), holder)
        return True
    return False


def clear(results_dir: str | Path, *, force: bool = False) -> str:
    """Remove a lock whose holder is gone (or any lock with ``force``); return what was done.

    Refuses (:class:`ResultsLockedError`) while the holder is alive on this host, or is on another
    host and ``force`` is not given.
    """
    holder = read_holder(results_dir)
    if holder is None:
        return f"{results_dir} is not locked"
    state = holder_state(holder)
    if state == "alive" or (state == "unknown" and not force):
        hint = "" if state == "alive" else " If you are sure that run is gone, add --force."
        raise ResultsLockedError(describe(results_dir, holder) + hint)
    lock_path(results_dir).unlink(missing_ok=True)
    return f"removed the lock of {results_dir} (held by pid {holder.get('pid')} on {holder.get('host')})"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m eoxai.lock {status,clear} RESULTS_DIR [--force]``; exit code 2 with a message if locked."""
    ap = argparse.ArgumentParser(description="Show or clear the lock of a results folder.")
    ap.add_argument("action", choices=["status", "clear"])
    ap.add_argument("results_dir")
    ap.add_argument("--force", action="store_true", help="clear a lock held from another host")
    a = ap.parse_args(argv)
    try:
        if a.action == "clear":
            print(clear(a.results_dir, force=a.force))
        else:
            holder = read_holder(a.results_dir)
            print(f"{a.results_dir} is not locked" if holder is None
                  else f"{holder_state(holder)}: " + json.dumps(holder))
    except ResultsLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
