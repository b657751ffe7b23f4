"""constraints.txt (pip) and envs/*.yaml (conda) pin versions that pyproject.toml accepts
(its dependencies and the `slurm` and `docs` extras)."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of the pip packages that are named differently there
CONDA_TO_PIP = {"matplotlib-base": "matplotlib"}


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    texts = project["dependencies"] + extras.get("slurm", []) + extras.get("docs", [])
    return [Requirement(t) for t in texts]


def constraints() -> dict[str, Version]:
    pins = {}
    for n, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert match, f"constraints.txt line {n} is not `name==version`: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = Version(match.group(2))
    return pins


def test_every_dependency_is_pinned_at_a_version_pyproject_accepts():
    pins = constraints()
    assert "metpot" not in pins
    for req in pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req}"
        )


def test_test_only_tools_are_not_pinned():
    pins = constraints()
    for tool in ("pytest", "ruff", "snfpy"):
        assert tool not in pins, f"constraints.txt pins the test tool {tool}"


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_envs_pin_the_versions_of_constraints(env):
    pins = constraints()
    accepted = {canonicalize_name(r.name): r for r in pyproject_requirements()}
    specs = yaml.safe_load(env.read_text())["dependencies"]
    assert specs
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9._-]+) ==(\S+)", spec)
        assert match, f"{env.name}: {spec!r} is not an exact pin `name ==version`"
        conda_name, version = match.group(1), Version(match.group(2))
        if conda_name == "python":
            assert version.release[:2] >= (3, 11)
            continue
        name = canonicalize_name(CONDA_TO_PIP.get(conda_name, conda_name))
        assert name in accepted, f"{env.name}: {conda_name} is not a dependency in pyproject"
        assert pins.get(name) == version, (
            f"{env.name} pins {conda_name} {version}, constraints.txt {pins.get(name)}"
        )


def _installed_closure(requirements: list[Requirement]) -> set[str]:
    """Names of the requirements and, through the installed metadata, all of theirs."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.markers import default_environment

    env = default_environment()
    seen: set[str] = set()
    stack = list(requirements)
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = ("", *req.extras)
            if sub.marker is None or any(sub.marker.evaluate({**env, "extra": e}) for e in extras):
                stack.append(sub)
    return seen


def test_the_dependencies_cover_what_snakemake_report_needs():
    """`pip install .` then `snakemake --report`: every package the report imports is installed
    with metpot (snakemake makes pygments optional, behind its `reports` extra)."""
    import snakemake.report

    root = Path(snakemake.report.__file__).parent
    pattern = re.compile(r"Python package (\w+) must be installed to create reports")
    needed = set()
    for source in root.rglob("*.py"):
        needed |= set(pattern.findall(source.read_text()))
    assert "pygments" in needed, "snakemake's report no longer names its optional packages"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    covered = _installed_closure([Requirement(t) for t in project["dependencies"]])
    missing = sorted(n for n in needed if canonicalize_name(n) not in covered)
    assert not missing, f"snakemake --report needs {missing}, not a dependency of metpot"


def test_ci_installs_the_pinned_versions_and_a_separate_script_the_latest():
    """CI tests what constraints.txt pins; .ci/run-latest (a scheduled job) the newest releases."""
    run = (ROOT / ".ci" / "run").read_text()
    pinned = 'uv pip install --quiet --compile-bytecode -c constraints.txt ".[test,slurm,docs]"'
    assert pinned in run
    assert 'if [ "${METPOT_CI_LATEST:-0}" = 1 ]' in run
    latest = (ROOT / ".ci" / "run-latest").read_text()
    assert "METPOT_CI_LATEST=1" in latest and ".ci/run" in latest
