"""README and ARCHITECTURE.md stay true: the files they name exist, no folder users lack is named."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOCS = ("README.md", "ARCHITECTURE.md")


def test_architecture_names_only_files_that_exist():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"\blib/eoxai/[\w/]+(?:\.py)?", text))
    assert len(paths) > 15
    missing = [p for p in sorted(paths) if not (ROOT / p).exists()]
    assert missing == [], f"ARCHITECTURE.md names missing paths: {missing}"
    for nb in re.findall(r"\b(\d\d[b]?_[a-z_]+)\b", text):
        assert list((ROOT / "notebooks").glob(f"{nb}.py")), f"ARCHITECTURE.md names notebook {nb}"


def test_docs_name_no_folder_users_do_not_have():
    for doc in (*DOCS, "Makefile", "environment.yml", "lib/eoxai/checksums.py"):
        text = (ROOT / doc).read_text()
        assert "../shared" not in text and "/work/" not in text, doc
    readme = (ROOT / "README.md").read_text()
    assert "ARCHITECTURE.md" in readme and (ROOT / "ARCHITECTURE.md").is_file()


def test_readme_states_prerequisites_disk_and_every_make_target():
    readme = (ROOT / "README.md").read_text()
    for needle in ("GNU make", "venv", "package index", "6.8 GB", "0.7 GB", "requirements.lock", "make lock",
                   "--allow-root", "make help"):
        assert needle in readme, needle
    targets = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    for target in ("reproduce", "test", "test-fast", "lint", "audit", "lab", "lock"):
        assert target in targets and f"make {target}" in readme, target


def test_architecture_uses_the_current_names():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for old in ("runtime.py", "evaluation.py", "audit/__init__.py", "audit.py"):
        assert old not in text, f"ARCHITECTURE.md still names {old}"
    for module in ("session.py", "accuracy.py", "checks.py", "rerun.py", "cli.py", "findings.py", "errors.py"):
        assert module in text and list((ROOT / "lib" / "eoxai").rglob(module)), module
