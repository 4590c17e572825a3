"""Run profiles (``config/<profile>.yaml``): one code path, different parameters.

A profile is a YAML mapping with common keys (``profile``, ``seed``, ``data_dir``, ``results_dir``,
``device``) and one section per notebook under ``notebooks:``. :func:`notebook_parameters`
merges the common keys with a notebook's section: that is what papermill injects.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from eoxai.errors import ConfigError

COMMON_KEYS = ("profile", "seed", "data_dir", "results_dir", "device")
REQUIRED_KEYS = ("profile", "seed", "data_dir", "results_dir", "notebooks")


def profile_path(profile: str, config_dir: str | Path = "config") -> Path:
    """``config_dir/<profile>.yaml``; :class:`ConfigError` listing the profiles that exist if absent."""
    config_dir = Path(config_dir)
    path = config_dir / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in config_dir.glob("*.yaml"))
        raise ConfigError(f"profile {profile!r} does not exist: no {path}. Known profiles: {known}")
    return path


def load_profile(profile: str | Path, config_dir: str | Path = "config") -> dict[str, Any]:
    """Load a profile by name (``'quick'``) or path, and check its required keys."""
    path = Path(profile) if str(profile).endswith((".yaml", ".yml")) else profile_path(str(profile), config_dir)
    if not path.is_file():
        raise ConfigError(f"profile file {path} does not exist")
    with path.open() as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} must hold a YAML mapping, not {type(cfg).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"{path} lacks the required key(s) {missing}")
    cfg["_path"] = str(path)
    return cfg


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
    """Common keys + ``cfg['notebooks'][notebook]`` + ``overrides``: the parameters papermill injects."""
    section = get(cfg, f"notebooks.{notebook}")
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"notebooks.{notebook} in {cfg.get('_path')} must be a mapping")
    params = {k: cfg[k] for k in COMMON_KEYS if k in cfg}
    params.update(section)
    params.update(overrides)
    return params
