"""environment.yml (conda users) must list the same runtime dependencies as pyproject.toml (pip users)."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

# Entries of environment.yml that are the conda environment itself, not evkit's runtime dependencies.
CONDA_ONLY = {"python", "pip"}
CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


#: Optional extras of pyproject.toml that environment.yml installs too (conda has no extras).
CONDA_EXTRAS = ("cluster",)
#: Extras of a requirement that are packages of their own on conda-forge (dask[distributed]).
CONDA_PACKAGE_EXTRAS = {"dask": {"distributed"}}


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    texts = list(data["project"]["dependencies"])
    for extra in CONDA_EXTRAS:
        texts += data["project"]["optional-dependencies"][extra]
    specs: dict[str, str] = {}
    for req in map(Requirement, texts):
        name = canonicalize_name(req.name)
        specs[name] = str(req.specifier)
        for package in CONDA_PACKAGE_EXTRAS.get(name, set()) & req.extras:
            specs[canonicalize_name(package)] = str(req.specifier)
    return specs


def _environment() -> dict[str, object]:
    loaded = yaml.safe_load((REPO_ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _conda_requirements() -> dict[str, str]:
    specs: dict[str, str] = {}
    for entry in _environment()["dependencies"]:  # type: ignore[union-attr]
        if not isinstance(entry, str):
            continue  # the nested `pip:` list
        match = CONDA_SPEC.match(entry)
        assert match, f"unparsable conda spec {entry!r}"
        name, spec = match.groups()
        if name in CONDA_ONLY:
            continue
        # conda writes `pkg>=1.0` like pip, or `pkg 1.0` / `pkg =1.0`; normalise the pip-style forms we use.
        specs[canonicalize_name(name)] = spec.replace(" ", "")
    return specs


def test_same_dependency_names() -> None:
    pip_names = set(_pyproject_requirements())
    conda_names = set(_conda_requirements())
    assert conda_names - pip_names == set(), "in environment.yml but not in pyproject.toml"
    assert pip_names - conda_names == set(), "in pyproject.toml but not in environment.yml"


def test_same_version_bounds() -> None:
    pip_specs = _pyproject_requirements()
    conda_specs = _conda_requirements()
    differing = {
        name: (pip_specs[name], conda_specs[name])
        for name in pip_specs.keys() & conda_specs.keys()
        if pip_specs[name] != conda_specs[name]
    }
    assert differing == {}, "version bounds differ (pyproject, environment.yml)"


def test_environment_pins_python_and_installs_evkit_editable() -> None:
    env = _environment()
    assert env["channels"] == ["conda-forge"]
    dependencies = env["dependencies"]
    assert isinstance(dependencies, list)
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    minimum = data["project"]["requires-python"].removeprefix(">=")
    assert f"python={minimum}" in dependencies
    assert "pip" in dependencies
    pip_sections = [entry["pip"] for entry in dependencies if isinstance(entry, dict) and "pip" in entry]
    assert pip_sections == [["-e ."]]
