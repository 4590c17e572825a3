"""Profiles: a base with every default, profiles stating differences, a schema checking every key."""

from __future__ import annotations

import pytest
import yaml

from eoxai.config import get, load_profile, notebook_parameters, stack_declarations
from eoxai.errors import ConfigError
from tests.conftest import ROOT

PROFILES = ("smoke", "quick", "paper")


def write_profile(tmp_path, repo_root, body: dict, name: str = "mine.yaml"):
    """A user profile beside copies of nothing: declarations are named relative to the repo's config."""
    p = tmp_path / name
    p.write_text(yaml.safe_dump(body, sort_keys=False))
    return p


def shipped(repo_root) -> dict:
    return {n: {"declaration": str(repo_root / "config" / "stacks" / f"{n}.yaml")} for n in ("sen1floods11", "eolearn")}


@pytest.mark.parametrize("name", PROFILES)
def test_shipped_profiles_load_and_run_every_notebook(repo_root, name):
    cfg = load_profile(name, repo_root / "config")
    assert cfg["profile"] == name
    notebooks = {p.stem for p in (repo_root / "notebooks").glob("[0-9][0-9]*_*.ipynb")}
    assert set(cfg["notebooks"]) == notebooks
    paper = {"whu_opt_sar", "mapinwild", "dfc2020", "sen1floods11_chip"} if name == "paper" else set()
    assert set(stack_declarations(cfg)) == {"sen1floods11", "eolearn"} | paper
    assert cfg["explainer_memory_mb"] is None


def test_profiles_state_only_differences_from_the_base(repo_root):
    quick = load_profile("quick", repo_root / "config")
    smoke = load_profile("smoke", repo_root / "config")
    paper = load_profile("paper", repo_root / "config")
    # smoke states epochs: 1; the rest of its training section comes from the base
    assert smoke["notebooks"]["02_training"]["train"]["epochs"] == 1
    assert smoke["notebooks"]["02_training"]["train"]["lr"] == quick["notebooks"]["02_training"]["train"]["lr"]
    # mappings keyed by stack are replaced whole: smoke's runs are its own, not merged with the base's
    assert [r["arch"] for r in smoke["notebooks"]["02_training"]["runs"]["eolearn"]] == ["manet_mit"]
    assert "max_class_weight" not in smoke["notebooks"]["02_training"]["runs"]["eolearn"][0]
    # a profile overrides one key of a declaration
    assert stack_declarations(paper)["sen1floods11"].folder == "sen1floods11"
    assert stack_declarations(quick)["sen1floods11"].folder == "sen1floods11_sample"


def test_unknown_profile_names_the_known_ones(repo_root):
    with pytest.raises(ConfigError, match=r"profile 'fast' does not exist.*'quick'"):
        load_profile("fast", repo_root / "config")
    with pytest.raises(ConfigError, match="'base' does not exist"):  # the base is not a profile
        load_profile("base", repo_root / "config")


def test_missing_key_is_named(tmp_path, repo_root):
    p = write_profile(tmp_path, repo_root, {"seed": 1, "notebooks": {}})
    with pytest.raises(ConfigError, match=r"lacks the required key\(s\) \['profile'\]"):
        load_profile(p, repo_root / "config")
    p = write_profile(tmp_path, repo_root, {"profile": "x", "notebooks": {}})
    cfg = load_profile(p, repo_root / "config")
    assert cfg["notebooks"] == {}  # nothing scheduled
    with pytest.raises(ConfigError, match="'notebooks.02_training' missing"):
        get(cfg, "notebooks.02_training.epochs")


@pytest.mark.parametrize(("section", "expected"), [
    ({"07_shap_segmentation": {"max_eval": 10}},
     r"notebooks\.07_shap_segmentation\.max_eval: unknown key; did you mean 'max_evals'\?"),
    ({"07_shap_segmentation": {"max_evals": "three"}},
     r"notebooks\.07_shap_segmentation\.max_evals = 'three': Input should be a valid integer"),
    ({"01_data_fusion": {}, "02_training": {"train": {"patience": -1}}},
     r"notebooks\.02_training\.train\.patience = -1: .*greater than or equal to 0 \(allowed range \[0, inf\)\)"),
    ({"01_data_fusion": {}, "02_training": {"runs": {"eolearn": [{"arch": "unet", "inputs": ["all"], "epoch": 2}]}}},
     r"notebooks\.02_training\.runs\.eolearn\.0\.epoch: unknown key; did you mean 'epochs'\?"),
    ({"10_scene_shap": {"drop_fraction": 1.5}},
     r"notebooks\.10_scene_shap\.drop_fraction = 1\.5: .*\(allowed range \(0, 1\)\)"),
    ({"08_modality_influence": {"head_score_means_less_influence": 1}},
     r"head_score_means_less_influence = 1: Input should be a valid boolean"),
    ({"07_shap_segmentaton": {}}, r"notebooks\.07_shap_segmentaton: unknown key; did you mean '07_shap_segmentation'\?"),
])
def test_a_profile_typo_or_bad_value_names_the_key(tmp_path, repo_root, section, expected):
    p = write_profile(tmp_path, repo_root, {"profile": "x", "notebooks": section})
    with pytest.raises(ConfigError, match=expected):
        load_profile(p, repo_root / "config")


@pytest.mark.parametrize(("top", "expected"), [
    ({"explainer_memory_mb": 0}, r"explainer_memory_mb = 0: .*\(allowed range \[1, inf\)\)"),
    ({"device": "gpu"}, r"device = 'gpu': String should match pattern"),
    ({"sed": 3}, r"sed: unknown key; did you mean 'seed'\?"),
])
def test_top_level_keys_are_checked(tmp_path, repo_root, top, expected):
    p = write_profile(tmp_path, repo_root, {"profile": "x", **top, "notebooks": {}})
    with pytest.raises(ConfigError, match=expected):
        load_profile(p, repo_root / "config")


def test_explainer_memory_budget_reaches_every_notebook(tmp_path, repo_root):
    cfg = load_profile("quick", repo_root / "config")
    assert notebook_parameters(cfg, "07_shap_segmentation")["explainer_memory_mb"] is None
    p = write_profile(tmp_path, repo_root, {"profile": "x", "explainer_memory_mb": 512,
                                            "notebooks": {"10_scene_shap": {}}})
    assert notebook_parameters(load_profile(p, repo_root / "config"), "10_scene_shap")["explainer_memory_mb"] == 512


def test_declaration_unknown_key_and_missing_field_are_named(tmp_path, repo_root):
    decl = yaml.safe_load((repo_root / "config/stacks/sen1floods11.yaml").read_text())
    decl["modalities"]["s1"]["band"] = decl["modalities"]["s1"].pop("bands")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(decl))
    p = write_profile(tmp_path, repo_root, {"profile": "x", "stacks": {"flood": {"declaration": "bad.yaml"}},
                                            "notebooks": {"01_data_fusion": {"stacks": ["flood"]}}})
    with pytest.raises(ConfigError, match=r"bad\.yaml") as err:
        load_profile(p, repo_root / "config")
    assert "stacks.flood.modalities.s1.band: unknown key; did you mean 'bands'?" in str(err.value)
    assert "stacks.flood.modalities.s1.bands: Field required" in str(err.value)
    del decl["modalities"]["s1"]["band"]
    decl["modalities"]["s1"]["bands"] = ["VV", "VH"]
    decl["tiling"]["tile_size"] = 0
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(decl))
    with pytest.raises(ConfigError, match=r"stacks\.flood\.tiling\.tile_size = 0: .*\(allowed range \[1, inf\)\)"):
        load_profile(p, repo_root / "config")


def test_sections_may_only_name_declared_stacks(tmp_path, repo_root):
    p = write_profile(tmp_path, repo_root, {"profile": "x", "stacks": shipped(repo_root),
                                            "notebooks": {"01_data_fusion": {"stacks": ["sen1flods11"]}}})
    with pytest.raises(ConfigError, match=r"names stack 'sen1flods11'.*did you mean 'sen1floods11'\?"):
        load_profile(p, repo_root / "config")


def test_a_subset_of_notebooks_runs_and_dependencies_are_named(tmp_path, repo_root):
    p = write_profile(tmp_path, repo_root, {"profile": "x", "notebooks": {"01_data_fusion": {}}})
    assert list(load_profile(p, repo_root / "config")["notebooks"]) == ["01_data_fusion"]
    p = write_profile(tmp_path, repo_root, {"profile": "x", "notebooks": {"01_data_fusion": {},
                                                                           "04_interclass_gradcam": {}}})
    with pytest.raises(ConfigError, match="04_interclass_gradcam reads the outputs of 02_training"):
        load_profile(p, repo_root / "config")


def test_notebook_parameters_merge_common_section_declarations_and_overrides(repo_root):
    cfg = load_profile("smoke", repo_root / "config")
    params = notebook_parameters(cfg, "01_data_fusion", results_dir="/tmp/x")
    assert params["profile"] == "smoke" and params["seed"] == cfg["seed"]
    assert params["results_dir"] == "/tmp/x"
    assert params["stacks"] == ["sen1floods11", "eolearn"]
    assert params["declarations"]["eolearn"]["label"]["legend"][8] == "artificial_surface"
    assert "declarations" not in notebook_parameters(cfg, "02_training")


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "stacks").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_declaration_file_is_valid_and_says_how_to_get_its_data(path):
    from eoxai.config import validate_declaration
    from eoxai.data.download import REGISTRY

    decl = validate_declaration(path.stem, yaml.safe_load(path.read_text()))
    assert decl.source, "say which published description the declaration follows"
    assert decl.download in REGISTRY or decl.download is None
    if decl.download:
        assert REGISTRY[decl.download].folder == decl.folder or decl.folder.endswith("_sample")


def test_profile_check_cli_names_the_key_and_exits_2(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: bad\nnotebooks:\n  02_training: {train: {patience: -1}}\n  01_data_fusion: {}\n")
    out = subprocess.run([sys.executable, "-m", "eoxai.config", "quick", str(bad)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stdout.startswith("quick: ok")
    assert "notebooks.02_training.train.patience = -1" in out.stderr and "allowed range [0, inf)" in out.stderr


def test_a_known_answer_stack_without_rules_is_named(tmp_path, repo_root):
    """Notebook 11 grades a stack only on the rules declared for it: a stack without any fails early."""
    p = write_profile(tmp_path, repo_root, {
        "profile": "x",
        "stacks": {**shipped(repo_root), "mine": shipped(repo_root)["eolearn"]},
        "notebooks": {"01_data_fusion": {"stacks": ["mine", "eolearn"]},
                      "11_known_answer_benchmark": {"stacks": ["mine", "eolearn"]}}})
    with pytest.raises(ConfigError, match=r"names 'mine', which has no synthetic rules"):
        load_profile(p, repo_root / "config")


def test_a_rule_may_set_its_own_training(repo_root):
    cfg = load_profile("quick", repo_root / "config")
    rules = cfg["notebooks"]["11_known_answer_benchmark"]["rules"]["sen1floods11"]
    assert {r["name"]: (r.get("train") or {}).get("epochs") for r in rules} == {
        "band_sar_nd": 20, "modality_s1": 20, "spatial_near_bright_vh": None}
