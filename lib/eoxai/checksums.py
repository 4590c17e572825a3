"""SHA-256 hashing and verification against ``SHA256SUMS`` files (``sha256sum -c`` format)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from eoxai.errors import ChecksumError, DatasetNotFoundError

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"cannot hash {path}: no such file")
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sha256sums(path: str | Path) -> dict[str, str]:
    """Parse a ``SHA256SUMS`` file into ``{relative path: hex digest}``.

    Paths are normalised without a leading ``./``; lines are ``<64 hex>  <path>``.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"checksum list {path} not found")
    sums: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ChecksumError(f"{path}:{lineno}: not a 'sha256  path' line: {line!r}")
        digest, name = parts
        name = name.lstrip("*")
        sums[name.removeprefix("./")] = digest.lower()
    return sums


def verify_files(
    root: str | Path,
    sums: dict[str, str],
    only: Iterable[str] | None = None,
) -> list[str]:
    """Check files under ``root`` against ``sums``; return the relative paths verified.

    Parameters
    ----------
    root:
        Folder the relative paths in ``sums`` are relative to.
    sums:
        ``{relative path: hex digest}``, as :func:`read_sha256sums` returns.
    only:
        Relative paths or folder prefixes to check (default: every entry).

    Raises
    ------
    DatasetNotFoundError
        A listed file is missing (the message names it).
    ChecksumError
        A file's digest differs (the message names the file and both digests).
    """
    root = Path(root)
    prefixes = None if only is None else [p.removeprefix("./").rstrip("/") for p in only]
    checked: list[str] = []
    for rel, expected in sorted(sums.items()):
        if prefixes is not None and not any(rel == p or rel.startswith(p + "/") for p in prefixes):
            continue
        f = root / rel
        if not f.is_file():
            raise DatasetNotFoundError(f"{f} is listed in the checksums but missing")
        got = sha256_file(f)
        if got != expected:
            raise ChecksumError(
                f"checksum mismatch for {f}: expected sha256 {expected}, got {got}. "
                "The file was modified or is incomplete; restore data/ from a fresh clone of the repository, "
                "or see `python -m eoxai.data.download --list` for the full datasets."
            )
        checked.append(rel)
    if prefixes is not None and not checked:
        raise DatasetNotFoundError(f"no checksummed files under {root} match {prefixes}")
    return checked


# ---------------------------------------------------------------------- sidecars
#: suffix of a file's SHA-256 sidecar: ``model.pt`` -> ``model.pt.sha256`` (``sha256sum -c`` format)
SIDECAR_SUFFIX = ".sha256"


def sidecar_path(path: str | Path) -> Path:
    """Where the SHA-256 of ``path`` is kept: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(path: str | Path, digest: str | None = None) -> Path:
    """Write ``<path>.sha256`` (``<hex>  <name>``, as ``sha256sum`` does) atomically; return its path.

    ``digest`` defaults to the file's current SHA-256.
    """
    path = Path(path)
    side = sidecar_path(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(f"{digest or sha256_file(path)}  {path.name}\n")
    tmp.replace(side)
    return side


def verify_sidecar(path: str | Path) -> str:
    """Check ``path`` against its ``<path>.sha256`` sidecar; return the digest.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    ChecksumError
        The sidecar is missing or unreadable, or the file's digest differs (the message names
        the file and both digests).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} not found")
    side = sidecar_path(path)
    if not side.is_file():
        raise ChecksumError(f"{path} has no checksum sidecar {side.name}, so it cannot be verified")
    parts = side.read_text().split()
    if not parts or len(parts[0]) != 64:
        raise ChecksumError(f"checksum sidecar {side} is not a 'sha256  name' line")
    expected = parts[0].lower()
    got = sha256_file(path)
    if got != expected:
        raise ChecksumError(f"checksum mismatch for {path}: expected sha256 {expected} (from {side.name}), got {got}; "
                            "the file was modified, truncated or only partly written")
    return got
