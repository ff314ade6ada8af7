"""gd is distributed as "gdisco", and a plugin author's ``pip install`` of the example pulls gd by that name alone.

"gd" on PyPI is an unrelated project: a plugin declaring ``dependencies = ["gd"]`` installs it into a clean
environment. These tests run pip offline (``--no-index``, no pip configuration, no build isolation), on copies
of the projects in a temporary directory so that builds never write into the working tree.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "third_party_plugin"
EXAMPLE_NAME = "gdisco-example"
# Left behind by earlier builds and test runs; none of it is part of a project's source.
BUILD_LEFTOVERS = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """This environment's pip, offline and blind to the machine's pip configuration (indexes, find-links)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180)


def copy_example(where: Path, dependencies: list[str] | None = None) -> Path:
    """A copy of the example plugin's source, optionally with other ``dependencies``."""
    copy = where / "example"
    shutil.copytree(EXAMPLE, copy, ignore=BUILD_LEFTOVERS)
    if dependencies is not None:
        pyproject = copy / "pyproject.toml"
        text, count = re.subn(r"(?m)^dependencies = .*$", f"dependencies = {json.dumps(dependencies)}",
                              pyproject.read_text(encoding="utf-8"))
        assert count == 1, "the example's pyproject.toml has no one-line `dependencies = [...]`"
        pyproject.write_text(text, encoding="utf-8")
    return copy


def install_plan_problems(project: Path, where: Path) -> list[str]:
    """What is wrong with what ``pip install PROJECT`` would do here, offline: [] when it installs only the example.

    The example's requirements must name gdisco alone, and all of them must be met by what is installed (with
    ``--no-index`` pip can fetch nothing, so an unmet requirement fails the plan).
    """
    report = where / "report.json"
    done = pip("install", "--dry-run", "--no-build-isolation", "--quiet", "--report", str(report), str(project),
               cwd=where)
    if done.returncode != 0:
        return [f"pip cannot plan the install offline: {done.stderr.strip()[-600:]}"]
    problems = []
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    planned = [canonicalize_name(item["metadata"]["name"]) for item in installs]
    if planned != [EXAMPLE_NAME]:
        problems.append(f"pip would install {planned}, not just {EXAMPLE_NAME}")
    for item in installs:
        for text in item["metadata"].get("requires_dist") or []:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) != "gdisco":
                problems.append(f"{item['metadata']['name']} requires {text!r}; gd's distribution is gdisco")
            elif not requirement.specifier:
                problems.append(f"{text!r} has no lower bound")
    return problems


def wheel_metadata(project: Path, where: Path) -> tuple[dict[str, list[str]], str, list[str]]:
    """Build ``project``'s wheel offline: its METADATA fields, its entry_points.txt and the names it holds."""
    out = where / "wheels"
    done = pip("wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(out), str(project),
               cwd=where)
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        message = email.parser.Parser().parsestr(archive.read(metadata).decode("utf-8"), headersonly=True)
        fields: dict[str, list[str]] = {}
        for key, value in message.items():
            fields.setdefault(key, []).append(value)
        return fields, archive.read(entry_points).decode("utf-8"), [wheel.name, *names]


def test_the_installed_gd_core_comes_from_gdisco_and_satisfies_the_example():
    # A lingering distribution that also provides gd_core (the pre-rename "gd") would mask a wrong dependency.
    providers = set(importlib.metadata.packages_distributions().get("gd_core", []))
    assert providers == {"gdisco"}, (f"gd_core is provided by {sorted(providers)}; run `pip uninstall gd` and "
                                     "`pip install -e .` again at the repository root")
    declared = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert canonicalize_name(declared["name"]) == EXAMPLE_NAME
    (requirement,) = [Requirement(text) for text in declared["dependencies"]]
    assert canonicalize_name(requirement.name) == "gdisco"
    assert requirement.specifier.contains(importlib.metadata.version("gdisco"))


def test_pip_install_of_the_example_installs_only_the_example(tmp_path):
    assert install_plan_problems(copy_example(tmp_path), tmp_path) == []


# "gd" is not installed here, so pip cannot plan those offline; pluggy is installed, as a lingering "gd" would
# be, so only the check of the requirement's name catches it.
@pytest.mark.parametrize("dependencies", [["gd"], ["gd>=0.1"], ["gdisco>=0.1.0", "gd"], ["gdisco>=0.1.0", "pluggy"],
                                          ["gdisco"]])
def test_the_install_check_refuses_a_wrong_dependency(tmp_path, dependencies):
    """The check above fails for the mistakes it exists to catch: depending on "gd", or on gdisco unbounded."""
    problems = install_plan_problems(copy_example(tmp_path, dependencies), tmp_path)
    assert problems, f"dependencies = {dependencies} passed the install check"


def test_the_example_wheel_requires_gdisco_and_registers_its_entry_point(tmp_path):
    fields, entry_points, names = wheel_metadata(copy_example(tmp_path), tmp_path)
    assert fields["Name"] == [EXAMPLE_NAME]
    assert [canonicalize_name(Requirement(text).name) for text in fields["Requires-Dist"]] == ["gdisco"]
    assert re.search(r"(?m)^\[gd\.plugins\]\s*\nexample = gdisco_example\s*$", entry_points), entry_points
    assert names[0].startswith("gdisco_example-") and "gdisco_example/__init__.py" in names


def test_the_gdisco_wheel_is_named_gdisco_and_still_provides_the_gd_command(tmp_path):
    source = tmp_path / "gdisco"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("gd_core", "gd_apps", "gd_plugins_builtin"):
        shutil.copytree(ROOT / package, source / package, ignore=BUILD_LEFTOVERS)
    fields, entry_points, names = wheel_metadata(source, tmp_path)
    assert fields["Name"] == ["gdisco"]
    assert fields["Version"] == [importlib.metadata.version("gdisco")]
    required = {canonicalize_name(Requirement(text).name) for text in fields.get("Requires-Dist", [])}
    assert "gd" not in required and "gdisco" not in required
    assert re.search(r"(?m)^\[console_scripts\]\s*\ngd = gd_apps\.launch:main\s*$", entry_points), entry_points
    assert names[0].startswith("gdisco-")
    assert {name.split("/")[0] for name in names[1:] if "/" in name} == {
        "gd_core", "gd_apps", "gd_plugins_builtin", f"gdisco-{fields['Version'][0]}.dist-info"}
    # Every module and shipped data file of the source tree is in the wheel, subpackages included.
    shipped = {f.relative_to(source).as_posix() for package in ("gd_core", "gd_apps", "gd_plugins_builtin")
               for f in (source / package).rglob("*") if f.is_file() and f.suffix in (".py", ".gz", ".npz", ".json")}
    assert shipped and not shipped - set(names)
