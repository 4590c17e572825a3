"""Download and verify the full public datasets for the paper profile.

The shipped samples under ``data/`` are enough for the ``smoke`` and ``quick`` profiles. The
``paper`` profile needs the full datasets; this module fetches the ones with a public HTTP
address, writes them in the layout the readers expect, and records a SHA-256 for every file in
``<root>/SHA256SUMS.<name>`` (the publishers give no checksums: the first download is trusted
and every later read is verified against it). Datasets that need a registration or a manual
step raise :class:`~eoxai.errors.DatasetNotFoundError` with instructions.

Command line::

    python -m eoxai.data.download --list
    python -m eoxai.data.download sen1floods11 --root data
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from eoxai.checksums import read_sha256sums, sha256_file, verify_files
from eoxai.errors import DatasetNotFoundError, EoxaiError


@dataclass(frozen=True)
class RemoteDataset:
    """A full dataset: where it comes from, how to cite it, and how to get it."""

    name: str
    description: str
    citation: str
    licence: str
    homepage: str
    folder: str
    #: base URL of the files (None where only a manual download exists)
    base_url: str | None = None
    #: how to get it by hand (registration, portal), shown when it is absent
    manual: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: name of the function of this module that downloads it (None: manual only)
    fetcher: str | None = None
    #: the split the paper profile uses (``collection.split`` of its declaration, in words)
    split: str = ""
    #: the published (seed) result its paper-profile runs are to be compared with
    seed_target: str = ""


SEN1FLOODS11_BUCKET = "https://storage.googleapis.com/sen1floods11/v1.1"

REGISTRY: dict[str, RemoteDataset] = {
    "sen1floods11": RemoteDataset(
        name="sen1floods11",
        description="Sen1Floods11 hand-labelled chips (446): Sentinel-1, Sentinel-2 L1C, water labels",
        citation="Bonafilia et al. (2020), CVPR Workshops, pp. 210-211",
        licence="CC BY 4.0 (labels); contains modified Copernicus Sentinel data",
        homepage="https://github.com/cloudtostreet/Sen1Floods11",
        folder="sen1floods11",
        base_url=SEN1FLOODS11_BUCKET,
        fetcher="download_sen1floods11",
        split="official flood_handlabeled train/valid/test lists (splits/flood_handlabeled/*.csv)",
        seed_target="the seeds' S1+S2 water segmentation on the hand-labelled test chips (water IoU, mIoU); "
                    "the seeds fix no single headline number for it",
        extra={
            "catalogue": "splits/flood_handlabeled/flood_{split}_data.csv",
            "s1": "data/flood_events/HandLabeled/S1Hand/{chip}_S1Hand.tif",
            "s2": "data/flood_events/HandLabeled/S2Hand/{chip}_S2Hand.tif",
            "label": "data/flood_events/HandLabeled/LabelHand/{chip}_LabelHand.tif",
        },
    ),
    "eurosat_ms": RemoteDataset(
        name="eurosat_ms",
        description="EuroSAT multispectral (13 Sentinel-2 bands, 27,000 64x64 patches, 10 classes)",
        citation="Helber et al. (2019), IEEE JSTARS 12(7)",
        licence="MIT",
        homepage="https://github.com/phelber/EuroSAT",
        folder="eurosat_ms",
        base_url="https://zenodo.org/records/7711810/files",
        extra={"archive": "EuroSAT_MS.zip"},
        fetcher="download_archive",
    ),
    "whu_opt_sar": RemoteDataset(
        name="whu_opt_sar",
        description="WHU-OPT-SAR: 100 pairs of 5556x3704 GF-1 optical and GF-3 SAR images, 7 classes",
        citation="Li et al. (2022), MCANet, Int. J. Appl. Earth Obs. Geoinf. 106",
        licence="research use (see homepage)",
        homepage="https://github.com/AmberHen/WHU-OPT-SAR-dataset",
        folder="whu_opt_sar",
        manual="Download the archives linked from the homepage (Baidu/Google Drive) and unpack them into "
               "<root>/whu_opt_sar/{optical,sar,lbl}/.",
        split="none published: seeded scene-level split 60/20/20 of the sorted image names (numpy default_rng(0))",
        seed_target="CLAIRE: mIoU 56.02 / OA 84.56",
    ),
    "mapinwild": RemoteDataset(
        name="mapinwild",
        description="MapInWild: multisensor wilderness mapping (S1, S2 seasons, ESA WorldCover, VIIRS, DEM)",
        citation="Ekim et al. (2023), IEEE GRSM",
        licence="CC BY 4.0",
        homepage="https://huggingface.co/datasets/burakekim/mapinwild",
        folder="mapinwild",
        manual="Download with `huggingface-cli download burakekim/mapinwild --repo-type dataset "
               "--local-dir <root>/mapinwild` on a machine with internet access.",
        split="official split_IDs.csv (columns train, validation, test)",
        seed_target="Ekim & Schmitt: IoU 69.1 -> 78.5",
    ),
    "dfc2020": RemoteDataset(
        name="dfc2020",
        description="IEEE GRSS DFC2020 / SEN12MS: Sentinel-1, Sentinel-2, MODIS-derived land cover",
        citation="Schmitt et al. (2019), ISPRS Annals IV-2/W7; Robinson et al. (2021), IEEE JSTARS",
        licence="CC BY 4.0",
        homepage="https://ieee-dataport.org/competitions/2020-ieee-grss-data-fusion-contest",
        folder="dfc2020",
        manual="Register at IEEE DataPort, download the DFC2020 validation/test archives and unpack them "
               "into <root>/dfc2020/.",
        split="official: ROIs0000_validation (trained on, a seeded 20 % held out for early stopping), ROIs0000_test",
        seed_target="DFC2020 test set (Robinson et al. 2021): land-cover mIoU / OA of S1+S2 models",
    ),
    "prisma_l2d": RemoteDataset(
        name="prisma_l2d",
        description="PRISMA L2D hyperspectral scenes (HE5), e.g. the xAIDrivenHyperOpt Seville scene",
        citation="ASI PRISMA mission; Seville study: ds4xai/xAIDrivenHyperOpt (IGARSS 2025)",
        licence="ASI PRISMA data licence (registration required)",
        homepage="https://prisma.asi.it/",
        folder="prisma",
        manual="Register at the PRISMA portal, order the L2D product and put the .he5 file into <root>/prisma/.",
    ),
}


def _open(url: str, timeout: float) -> io.BufferedIOBase:
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s)/file URLs by design
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DatasetNotFoundError(
            f"cannot download {url}: {exc}. This machine may be offline; download the dataset on a machine "
            "with internet access (python -m eoxai.data.download ...) and copy it into the data folder."
        ) from exc


def fetch(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (atomically, via a ``.part`` file); return ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with _open(url, timeout) as response, part.open("wb") as fh:
            shutil.copyfileobj(response, fh)
    except BaseException:
        part.unlink(missing_ok=True)  # never leave a partial file behind
        raise
    part.replace(dest)
    return dest


def record_checksums(root: Path, name: str, files: Sequence[Path]) -> Path:
    """Append ``sha256  relpath`` lines for ``files`` to ``root/SHA256SUMS.<name>``; return its path."""
    sums_path = root / f"SHA256SUMS.{name}"
    known = read_sha256sums(sums_path) if sums_path.is_file() else {}
    for f in files:
        known[f.resolve().relative_to(root.resolve()).as_posix()] = sha256_file(f)
    sums_path.write_text("".join(f"{d}  ./{p}\n" for p, d in sorted(known.items())))
    return sums_path


def sen1floods11_chips(base_url: str, splits: Sequence[str] = ("train", "valid", "test"),
                       timeout: float = 60.0) -> list[str]:
    """Chip identifiers listed in the bucket's hand-labelled split catalogues."""
    spec = REGISTRY["sen1floods11"].extra["catalogue"]
    chips: list[str] = []
    for split in splits:
        with _open(f"{base_url}/{spec.format(split=split)}", timeout) as response:
            for row in csv.reader(io.TextIOWrapper(response, encoding="utf-8")):
                if row and row[0].endswith("_S1Hand.tif"):
                    chips.append(row[0].removesuffix("_S1Hand.tif"))
    return sorted(set(chips))


def download_sen1floods11(
    root: str | Path,
    chips: Sequence[str] | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    progress: Callable[..., object] = tqdm,
    dataset: str = "sen1floods11",
) -> list[Path]:
    """Download Sen1Floods11 hand-labelled chips into ``root/sen1floods11/{S1,S2,Labels}/`` and the
    official split lists into ``root/sen1floods11/splits/flood_handlabeled/`` (the collection's split).

    ``chips`` defaults to every chip of the bucket's catalogues; ``base_url`` to the public bucket
    (a ``file://`` URL of a local mirror works the same way). Existing files whose checksum is
    recorded and matches are kept. Returns the files written or verified.
    """
    ds = REGISTRY[dataset]
    root = Path(root)
    base = (base_url or ds.base_url or "").rstrip("/")
    chips = list(chips) if chips is not None else sen1floods11_chips(base, timeout=timeout)
    out_dir = root / ds.folder
    sums_path = root / f"SHA256SUMS.{ds.name}"
    known = read_sha256sums(sums_path) if sums_path.is_file() else {}
    layout = {"s1": "S1/{chip}_S1Hand.tif", "s2": "S2/{chip}_S2Hand.tif", "label": "Labels/{chip}_LabelHand.tif"}
    written: list[Path] = []
    for chip in progress(chips, desc="Sen1Floods11 chips", unit="chip"):
        for key, local in layout.items():
            dest = out_dir / local.format(chip=chip)
            rel = dest.relative_to(root).as_posix()
            if dest.is_file() and rel in known:
                verify_files(root, {rel: known[rel]})
            else:
                fetch(f"{base}/{ds.extra[key].format(chip=chip)}", dest, timeout=timeout)
            written.append(dest)
    for split in ("train", "valid", "test"):
        rel = ds.extra["catalogue"].format(split=split)
        written.append(fetch(f"{base}/{rel}", out_dir / rel, timeout=timeout))
    record_checksums(root, ds.name, written)
    return written


def download_archive(root: Path, dataset: str, base_url: str | None = None,
                     timeout: float = 600.0, **_: object) -> list[Path]:
    """Download and unpack the single archive ``extra['archive']`` of dataset ``dataset``."""
    name = dataset
    ds = REGISTRY[name]
    archive = fetch(f"{base_url or ds.base_url}/{ds.extra['archive']}", root / ds.folder / ds.extra["archive"],
                    timeout=timeout)
    shutil.unpack_archive(archive, root / ds.folder)
    record_checksums(root, name, [archive])
    return [archive]


def _existing_dirs(root: Path, folder: str) -> set[Path]:
    dirs = {p for p in (root, root / folder) if p.is_dir()}
    if (root / folder).is_dir():
        dirs |= {p for p in (root / folder).rglob("*") if p.is_dir()}
    return dirs


def _remove_new_empty_dirs(root: Path, folder: str, before: set[Path]) -> None:
    """After a failed download: remove the folders it created that hold no file (deepest first)."""
    if not (root / folder).is_dir():
        candidates = [root] if root not in before else []
    else:
        candidates = sorted((p for p in (root / folder).rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        candidates += [root / folder, root]
    for d in candidates:
        if d not in before and d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def download(name: str, root: str | Path = "data", **kwargs: object) -> list[Path]:
    """Download dataset ``name`` of :data:`REGISTRY` into ``root``; manual ones raise with instructions."""
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)}")
    ds = REGISTRY[name]
    root = Path(root)
    if ds.fetcher is not None:
        before = _existing_dirs(root, ds.folder)
        try:
            return globals()[ds.fetcher](root, dataset=name, **kwargs)  # type: ignore[no-any-return]
        except BaseException:
            _remove_new_empty_dirs(root, ds.folder, before)
            raise
    raise DatasetNotFoundError(
        f"{ds.description} cannot be downloaded automatically. {ds.manual.replace('<root>', str(root))} "
        f"Homepage: {ds.homepage}. Cite: {ds.citation}. Licence: {ds.licence}."
    )


def download_command(name: str, root: str | Path = "data") -> str:
    """The shell command that downloads dataset ``name`` (or explains how to get it)."""
    return f"python -m eoxai.data.download {name} --root {root}"


def missing_datasets_message(files: Sequence[str], data_dir: str | Path) -> str:
    """One block naming every dataset with a missing file among ``files`` and how to get each.

    Files are grouped by their folder under ``data_dir``; a folder that is a :data:`REGISTRY`
    dataset's gets its download command, any other the advice to put the declared files there.
    Returns ``""`` if nothing is missing.
    """
    root = Path(data_dir)
    by_folder: dict[str, list[str]] = {}
    for f in dict.fromkeys(files):
        p = Path(f)
        if p.exists() or not p.is_relative_to(root):
            continue
        rel = p.relative_to(root)
        by_folder.setdefault(rel.parts[0] if len(rel.parts) > 1 else rel.as_posix(), []).append(p.as_posix())
    if not by_folder:
        return ""
    folders = {ds.folder: ds for ds in REGISTRY.values()}
    lines = [f"Missing datasets ({len(by_folder)}); the rules that read them cannot run until they are there:"]
    for folder, paths in sorted(by_folder.items()):
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        ds = folders.get(folder)
        how = (f"get it with `{download_command(ds.name, root)}`" + ("" if ds.base_url else " (prints the manual steps)")
               if ds else "put the declared files there (see README, Bring your own data)")
        lines.append(f"  {root / folder}: missing {shown}; {how}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Download and verify the full datasets of the paper profile.")
    ap.add_argument("name", nargs="?", help=f"one of {sorted(REGISTRY)}")
    ap.add_argument("--root", default="data")
    ap.add_argument("--list", action="store_true", help="list the datasets and how to get each")
    ap.add_argument("--chips", nargs="*", help="Sen1Floods11 chips (default: all)")
    ap.add_argument("--base-url", help="another address of the files (a mirror; file:// works)")
    ap.add_argument("--timeout", type=float, help="seconds to wait for the server")
    a = ap.parse_args(argv)
    if a.list or not a.name:
        for ds in REGISTRY.values():
            how = "automatic" if ds.base_url else "manual: " + ds.manual
            print(f"{ds.name:14s} {ds.description}\n{'':14s} {how}")
            for key, value in (("split", ds.split), ("reproduces", ds.seed_target), ("cite", ds.citation)):
                if value:
                    print(f"{'':14s} {key}: {value}")
            print()
        return 0
    kwargs: dict[str, object] = {"chips": a.chips} if a.chips else {}
    kwargs.update({k: v for k, v in (("base_url", a.base_url), ("timeout", a.timeout)) if v is not None})
    try:
        files = download(a.name, a.root, **kwargs)
    except (EoxaiError, KeyError) as exc:  # a clear one-line message, no traceback
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}", file=sys.stderr)
        return 2
    print(f"{len(files)} files of {a.name} under {a.root}, checksums in {a.root}/SHA256SUMS.{a.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
