"""Profiles: one code path, different parameters; clear errors for unknown profiles and keys."""

from __future__ import annotations

import pytest
import yaml

from eoxai.config import get, load_profile, notebook_parameters
from eoxai.errors import ConfigError

PROFILES = ("smoke", "quick", "paper")


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_load_and_share_their_notebook_sections(repo_root, name):
    cfg = load_profile(name, repo_root / "config")
    assert cfg["profile"] == name
    quick = load_profile("quick", repo_root / "config")
    assert set(cfg["notebooks"]) == set(quick["notebooks"])  # same notebooks in every profile
    notebooks = {p.stem for p in (repo_root / "notebooks").glob("[0-9][0-9]*_*.ipynb")}
    assert notebooks <= set(cfg["notebooks"])


def test_unknown_profile_names_the_known_ones(repo_root):
    with pytest.raises(ConfigError, match=r"profile 'fast' does not exist.*'quick'"):
        load_profile("fast", repo_root / "config")


def test_missing_key_is_named(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text(yaml.safe_dump({"profile": "x", "seed": 1, "data_dir": "data", "results_dir": "r"}))
    with pytest.raises(ConfigError, match=r"lacks the required key\(s\) \['notebooks'\]"):
        load_profile(p)
    p.write_text(yaml.safe_dump({"profile": "x", "seed": 1, "data_dir": "d", "results_dir": "r", "notebooks": {}}))
    cfg = load_profile(p)
    with pytest.raises(ConfigError, match="'notebooks.02_training' missing"):
        get(cfg, "notebooks.02_training.epochs")


def test_notebook_parameters_merge_common_section_and_overrides(repo_root):
    cfg = load_profile("smoke", repo_root / "config")
    params = notebook_parameters(cfg, "01_data_fusion", results_dir="/tmp/x")
    assert params["profile"] == "smoke" and params["seed"] == cfg["seed"]
    assert params["results_dir"] == "/tmp/x"
    assert "sen1floods11" in params["stacks"]
