"""Run profiles: one code path, different parameters; every key validated before any job starts.

``config/base.yaml`` holds every default. A profile (``config/<name>.yaml``, or any YAML file)
states only what differs from the base, or from the profile it ``extends:``. Merging is deep,
except for mappings keyed by stack names (top-level ``stacks``, and ``runs``, ``max_tiles``,
``targets`` of a notebook section), which a profile replaces as a whole.

- ``notebooks:`` decides what runs: a notebook is scheduled when the profile (or a profile it
  extends, other than the base) has a section for it, even an empty one (``02_training: {}``);
  its parameters are the base section merged with the profile's.
- ``stacks:`` maps a stack name to its declaration (:mod:`eoxai.data.declaration`): inline, or
  ``{declaration: path/to/stack.yaml, <overrides>}`` with the path relative to the file that
  names it.

The merged profile is validated against :class:`eoxai.schema.Profile`: an unknown key fails with
its dotted path and the nearest valid name, a wrong type or an out-of-range value with the key,
the value and the allowed range. :func:`notebook_parameters` merges the common keys with a
notebook's section: that is what papermill injects.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from eoxai.data.declaration import StackDeclaration
from eoxai.errors import ConfigError

COMMON_KEYS = ("profile", "seed", "data_dir", "results_dir", "device", "explainer_memory_mb")
REQUIRED_KEYS = ("profile",)
BASE = "base.yaml"
#: notebook-section keys whose mappings are keyed by stack name: a profile replaces them whole
REPLACED = ("runs", "max_tiles", "targets")
#: notebooks that read stack declarations (the others read the fused cubes, which carry them)
DECLARATION_NOTEBOOKS = ("01_data_fusion",)


def default_config_dir() -> Path:
    """``config/`` of the working directory, else the one beside the installed package."""
    here = Path("config")
    return here if (here / BASE).is_file() else Path(__file__).resolve().parents[2] / "config"


def known_profiles(config_dir: str | Path | None = None) -> list[str]:
    """Names of the profiles in ``config_dir`` (every ``*.yaml`` but the base), sorted."""
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    return sorted(p.stem for p in config_dir.glob("*.yaml") if p.name != BASE)


def profile_path(profile: str, config_dir: str | Path | None = None) -> Path:
    """``config_dir/<profile>.yaml``; :class:`ConfigError` listing the profiles that exist if absent."""
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    path = config_dir / f"{profile}.yaml"
    if not path.is_file() or path.name == BASE:
        raise ConfigError(f"profile {profile!r} does not exist: no {path}. "
                          f"Known profiles: {known_profiles(config_dir)}")
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"profile file {path} does not exist")
    try:
        with path.open() as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a YAML mapping, not {type(data).__name__}")
    return data


def _merge(base: Mapping[str, Any], over: Mapping[str, Any], replaced: tuple[str, ...] = ()) -> dict[str, Any]:
    """Deep merge: mappings merge key by key (except keys in ``replaced``); the rest replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key not in replaced:
            out[key] = _merge(out[key], value, replaced)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_stacks(stacks: Any, where: Path) -> dict[str, Any]:
    """``{name: declaration mapping}`` with ``declaration:`` files read (relative to ``where``)."""
    if not isinstance(stacks, Mapping):
        raise ConfigError(f"stacks in {where} must map stack names to declarations, not {type(stacks).__name__}")
    out = {}
    for name, entry in stacks.items():
        entry = dict(entry or {})
        ref = entry.pop("declaration", None)
        if ref is not None:
            path = (where.parent / ref) if not Path(ref).is_absolute() else Path(ref)
            if not path.is_file():
                raise ConfigError(f"stacks.{name}.declaration: file {path} does not exist (named in {where})")
            declared = _read_yaml(path)
            declared.setdefault("_file", str(path))
            entry = _merge(declared, entry)
        out[str(name)] = entry
    return out


def _chain(path: Path, config_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The profile and the profiles it extends, child first (the base not included)."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    while True:
        if any(p.resolve() == path.resolve() for p, _ in chain):
            raise ConfigError(f"profile {path} extends itself (extends cycle)")
        data = _read_yaml(path)
        if "stacks" in data:
            data["stacks"] = _resolve_stacks(data["stacks"], path)
        chain.append((path, data))
        parent = data.get("extends")
        if parent in (None, "base"):
            return chain
        parent = str(parent)
        path = (path.parent / parent) if parent.endswith((".yaml", ".yml")) else profile_path(parent, config_dir)


def merge_profile(path: Path, config_dir: Path) -> dict[str, Any]:
    """The base merged with ``path`` and the profiles it extends (not validated)."""
    base_path = config_dir / BASE
    base = _read_yaml(base_path)
    base["stacks"] = _resolve_stacks(base.get("stacks") or {}, base_path)
    chain = _chain(path, config_dir)
    sections = list(dict.fromkeys(nb for _, data in reversed(chain) for nb in (data.get("notebooks") or {})))
    base_sections = base.get("notebooks") or {}
    cfg = {k: v for k, v in base.items() if k != "notebooks"}
    merged_sections = {nb: copy.deepcopy(base_sections.get(nb) or {}) for nb in sections}
    for _, data in reversed(chain):
        for key, value in data.items():
            if key == "notebooks":
                for nb, section in (value or {}).items():
                    merged_sections[nb] = _merge(merged_sections.get(nb, {}), section or {}, REPLACED)
            elif key == "stacks":
                cfg["stacks"] = copy.deepcopy(value)
            else:
                cfg[key] = copy.deepcopy(value)
    cfg["notebooks"] = merged_sections
    return cfg


def validate_declaration(name: str, declaration: Mapping[str, Any]) -> StackDeclaration:
    """Validate one stack declaration; :class:`ConfigError` naming ``stacks.<name>.<key>``."""
    from eoxai.schema import explain

    data = {k: v for k, v in declaration.items() if k != "_file"}
    data["name"] = name
    try:
        return StackDeclaration.model_validate(data)
    except ValidationError as exc:
        where = f" (declared in {declaration['_file']})" if "_file" in declaration else ""
        lines = explain(exc, StackDeclaration, prefix=f"stacks.{name}.")
        raise ConfigError(f"stack declaration {name!r}{where} is invalid:\n  " + "\n  ".join(lines)) from None


def validate_profile(cfg: Mapping[str, Any], where: str = "the profile") -> None:
    """Check every key, type and range (:class:`eoxai.schema.Profile`) and the cross-references:
    stacks named in sections are declared, notebooks a scheduled notebook needs are scheduled."""
    from eoxai.schema import NEEDS, Profile, explain

    data = {k: v for k, v in cfg.items() if not k.startswith("_")}
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{where} lacks the required key(s) {missing}")
    try:
        Profile.model_validate({**data, "stacks": {}, "notebooks": data.get("notebooks") or {}})
    except ValidationError as exc:
        raise ConfigError(f"{where} is invalid:\n  " + "\n  ".join(explain(exc))) from None
    for name, decl in (data.get("stacks") or {}).items():
        validate_declaration(name, decl or {})
    declared = sorted(data.get("stacks") or {})
    notebooks = data.get("notebooks") or {}
    problems = []
    for nb, section in notebooks.items():
        section = section or {}
        named: list[tuple[str, str]] = [(f"notebooks.{nb}.stacks", s) for s in section.get("stacks", [])]
        for key in REPLACED:
            value = section.get(key)
            named += [(f"notebooks.{nb}.{key}", s) for s in (value if isinstance(value, Mapping) else {})]
        for key, stack in named:
            if stack not in declared:
                near = difflib.get_close_matches(str(stack), declared, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                problems.append(f"{key} names stack {stack!r}, which is not declared under `stacks:` "
                                f"(declared: {declared}){hint}")
        for need in NEEDS.get(nb, ()):
            if need not in notebooks:
                problems.append(f"notebook {nb} reads the outputs of {need}: add a `{need}:` section "
                                "(it may be empty) to `notebooks:`")
    fused = set((notebooks.get("01_data_fusion") or {}).get("stacks", []))
    for nb, section in notebooks.items():
        for stack in (section or {}).get("stacks", []) if nb != "01_data_fusion" else []:
            if fused and stack not in fused:
                problems.append(f"notebooks.{nb}.stacks names {stack!r}, which 01_data_fusion does not fuse "
                                f"(notebooks.01_data_fusion.stacks: {sorted(fused)})")
    known = notebooks.get("11_known_answer_benchmark") or {}
    for stack in known.get("stacks", []):
        if stack not in (known.get("rules") or {}):
            problems.append(f"notebooks.11_known_answer_benchmark.stacks names {stack!r}, which has no synthetic "
                            "rules under notebooks.11_known_answer_benchmark.rules")
    if problems:
        raise ConfigError(f"{where} is inconsistent:\n  " + "\n  ".join(dict.fromkeys(problems)))


def load_profile(profile: str | Path, config_dir: str | Path | None = None) -> dict[str, Any]:
    """Load a profile by name (``'quick'``) or path, merged with ``config/base.yaml`` and validated.

    Returns the merged mapping with ``_path`` (the profile file) added; ``stacks`` holds each
    declaration as a mapping (see :func:`stack_declarations` for the validated objects).
    """
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    path = Path(profile) if str(profile).endswith((".yaml", ".yml")) else profile_path(str(profile), config_dir)
    if not path.is_file():
        raise ConfigError(f"profile file {path} does not exist")
    cfg = merge_profile(path, config_dir)
    validate_profile(cfg, where=str(path))
    cfg["_path"] = str(path)
    return cfg


def stack_declarations(cfg: Mapping[str, Any]) -> dict[str, StackDeclaration]:
    """The profile's stacks as validated :class:`StackDeclaration` objects, by name."""
    return {name: validate_declaration(name, decl or {}) for name, decl in (cfg.get("stacks") or {}).items()}


def get(cfg: Mapping[str, Any], dotted: str) -> Any:
    """``get(cfg, 'notebooks.02_training.epochs')``; :class:`ConfigError` naming the missing key."""
    node: Any = cfg
    walked = []
    for part in dotted.split("."):
        walked.append(part)
        if not isinstance(node, Mapping) or part not in node:
            where = cfg.get("_path", "the profile") if isinstance(cfg, Mapping) else "the profile"
            raise ConfigError(f"key {'.'.join(walked)!r} missing in {where}")
        node = node[part]
    return node


def notebook_parameters(cfg: Mapping[str, Any], notebook: str, **overrides: Any) -> dict[str, Any]:
    """Common keys + ``cfg['notebooks'][notebook]`` + ``overrides``: the parameters papermill injects.

    Notebooks that read declarations (01) also get ``declarations``: ``{stack: declaration}`` of
    the stacks the section names, as plain mappings.
    """
    section = get(cfg, f"notebooks.{notebook}")
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"notebooks.{notebook} in {cfg.get('_path')} must be a mapping")
    params = {k: cfg[k] for k in COMMON_KEYS if k in cfg}
    params.update(section)
    if notebook in DECLARATION_NOTEBOOKS:
        decls = stack_declarations(cfg)
        params["declarations"] = {n: decls[n].model_dump() for n in section.get("stacks", [])}
    params.update(overrides)
    return params


def main(argv: list[str] | None = None) -> int:
    """``python -m eoxai.config PROFILE...``: check profiles (name or YAML path) in well under a second."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="Check run profiles against the schema (eoxai.schema).")
    ap.add_argument("profiles", nargs="+", help="profile names (quick) or YAML files")
    ap.add_argument("--config-dir", help="folder of base.yaml and the named profiles (default: config/)")
    a = ap.parse_args(argv)
    status = 0
    for profile in a.profiles:
        try:
            cfg = load_profile(profile, a.config_dir)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        print(f"{profile}: ok ({len(cfg['notebooks'])} notebooks, stacks {sorted(cfg.get('stacks') or {})})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
