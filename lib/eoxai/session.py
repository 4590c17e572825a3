"""A notebook's session: seeds, threads, determinism and device choice; explicit, never global defaults."""

from __future__ import annotations

import linecache
import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from eoxai.errors import InputError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch ``Generator`` seeded with ``seed`` for loaders."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def configure_torch(threads: int | None = None, deterministic: bool = True) -> None:
    """Set torch's intra-op threads and deterministic algorithms (CPU runs repeat exactly)."""
    if threads:
        torch.set_num_threads(int(threads))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def select_device(name: str = "auto") -> torch.device:
    """``'auto'`` -> CUDA when available else CPU; ``'cpu'``/``'cuda'`` as asked (error if CUDA is absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available on this machine")
    return torch.device(name)


def portable_path(filename: str | Path, root: str | Path | None = None) -> str:
    """``filename`` as it may appear in a result: relative to ``root`` (default: the working
    directory, the project root under the runner) when inside it, from ``site-packages/`` on for an
    installed package, else its bare name. Never an absolute path of this machine."""
    path = Path(filename)
    root = Path(root) if root is not None else Path.cwd()
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        pass
    parts = path.parts
    if "site-packages" in parts:
        return Path(*parts[parts.index("site-packages"):]).as_posix()
    return path.name


def _portable_formatwarning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                            line: str | None = None) -> str:
    """:func:`warnings.formatwarning` with :func:`portable_path` file names (warnings printed in an
    executed notebook name no folder of the machine that ran it)."""
    if line is None:
        line = linecache.getline(filename, lineno)
    text = f"{portable_path(filename)}:{lineno}: {category.__name__}: {message}\n"
    return text + (f"  {line.strip()}\n" if line and line.strip() else "")


def start_notebook(
    *,
    seed: int,
    threads: int | None,
    device: str = "cpu",
    results_dir: str | Path,
    folders: tuple[str, ...] = ("tables", "figures"),
) -> tuple[torch.device, Path]:
    """The first call of every notebook: seed everything, set threads and determinism, pick the
    device, print warnings with portable file names (:func:`portable_path`), and create
    ``results_dir/<folder>`` for each of ``folders``. Returns ``(device, results_dir)``."""
    seed_everything(seed)
    configure_torch(threads)
    warnings.formatwarning = _portable_formatwarning
    results = Path(results_dir)
    for sub in folders:
        (results / sub).mkdir(parents=True, exist_ok=True)
    return select_device(device), results
