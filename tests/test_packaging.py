"""Packaging promises: light imports, a consistent public API, README and CI agree."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kinmisalign

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light():
    # Heavy or optional dependencies must only load when a feature needs them.
    code = (
        "import sys, json, kinmisalign; "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = set(json.loads(out.stdout))
    for heavy in ("tensorflow", "keras", "marvin", "dask", "distributed", "matplotlib", "pafit",
                  "tqdm", "torch"):
        assert heavy not in loaded, f"import kinmisalign imported {heavy}"


def test_public_api_is_exported():
    for name in kinmisalign.__all__:
        assert hasattr(kinmisalign, name), name
    for name in ("read_maps", "VelocityField", "MapsData", "conf"):
        assert name in kinmisalign.__all__


def test_every_module_declares_all():
    for path in sorted((ROOT / "kinmisalign").rglob("*.py")):
        if path.name in ("_version.py",) or path.name.startswith("test_"):
            continue
        text = path.read_text()
        if path.name == "__init__.py" and not text.strip():
            continue
        assert "__all__" in text, f"{path.relative_to(ROOT)} has no __all__"


def _readme_test_command():
    text = (ROOT / "README.rst").read_text()
    commands = re.findall(r"^\s+\$ (.*\btox -e .*)$", text, flags=re.MULTILINE)
    return commands[0].strip() if len(commands) == 1 else None


@pytest.mark.skipif(not (ROOT / ".ci" / "run").exists(), reason="not a source checkout")
def test_ci_runs_the_readme_test_command():
    command = _readme_test_command()
    assert command, "README.rst must give exactly one test command ('$ ... tox -e ...')"
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines(), f"{command!r} is not a line of .ci/run"
