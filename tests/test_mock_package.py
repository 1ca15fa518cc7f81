"""The layout of the kinmisalign.mock package: its public names, modules and imports."""

import ast
import concurrent.futures
import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest

from kinmisalign import mock

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(mock.__file__).resolve().parent
MAX_LINES = 700

# kinmisalign.mock.__all__ as it stood when mock was one module (mock.py); every one of these
# names must stay importable from kinmisalign.mock.
SINGLE_MODULE_ALL = [
    "BUNDLE_SIZES", "IFU_DESIGNS", "HEX_FLAT_DIAMETER", "MAP_SIZES", "FIELD_KINDS", "BINNINGS",
    "BIN_MODELS", "STYLES", "BUNDLE_FRACTIONS", "AXIS_RATIO_HISTOGRAM",
    "STELLAR_UNUSABLE_BY_AXIS_RATIO", "STELLAR_UNUSABLE_BY_BUNDLE", "GAS_UNUSABLE_BY_AXIS_RATIO",
    "GAS_UNUSABLE_BY_BUNDLE", "GAS_UNUSABLE_REASONS", "MESSY_FRACTION", "DPA_HISTOGRAM",
    "FieldModel", "MockGalaxy", "MockMaps", "rotation_curve", "disc_velocity",
    "inclination_from_axis_ratio", "axis_ratio_from_inclination", "make_maps_arrays",
    "maps_hdulist", "maps_filename", "write_maps", "random_galaxy", "make_mock_catalogue",
]
# Made public when the package was split: the DAPTYPE of a mock run (demo needed it), and
# the derivation of the mix constants (scripts/derive_mock_mix.py and a test use it).
ADDED = ["default_daptype", "derive_survey_mix"]


def _modules():
    return sorted(PACKAGE.glob("*.py"))


def _module_name(path):
    return "kinmisalign.mock" if path.stem == "__init__" else f"kinmisalign.mock.{path.stem}"


def _tree(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _dunder_all(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def _imports(path, package_root):
    """(module imported, names imported) of every import in a file, lazy ones included.

    ``package_root`` is the directory holding the top-level package, used to
    resolve relative imports; ``from . import name`` yields the submodule when
    ``name`` is a module file.
    """
    rel = path.resolve().relative_to(package_root).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts if is_package else parts[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names = [a.name for a in node.names]
            if node.module is None:
                # "from . import x": x may be a submodule.
                folder = package_root.joinpath(*module.split("."))
                for name in names:
                    if (folder / f"{name}.py").exists() or (folder / name).is_dir():
                        yield f"{module}.{name}", []
                    else:
                        yield module, [name]
            else:
                yield module, names


def test_public_names_are_kept():
    assert sorted(mock.__all__) == sorted(SINGLE_MODULE_ALL + ADDED)
    assert len(set(mock.__all__)) == len(mock.__all__)
    for name in mock.__all__:
        value = getattr(mock, name)
        if callable(value):
            # Classes and functions come from the package, not from elsewhere.
            assert value.__module__.startswith("kinmisalign.mock"), name
    # The package re-exports every public name of its modules, and nothing else.
    exported = set()
    for path in _modules():
        if path.stem != "__init__":
            exported |= set(getattr(mock, path.stem).__all__) & set(mock.__all__)
    assert exported == set(mock.__all__)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_module_is_small_documented_and_declares_all(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) < MAX_LINES
    tree = _tree(path)
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].strip().endswith("."), "no one-line opening docstring"
    names = _dunder_all(tree)
    assert names, "no __all__"
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            defined |= {a.asname or a.name for a in node.names}
    assert set(names) <= defined, f"__all__ names not defined: {set(names) - defined}"
    public = {n for n in defined if not n.startswith("_")}
    if path.stem != "__init__":
        own = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        own |= {t.id for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
        # Every public name a module defines is declared; helpers are private.
        assert {n for n in own if not n.startswith("_")} <= set(names)
    else:
        assert public == set(names)


def test_no_private_mock_name_is_imported_elsewhere():
    """Modules import only public names of kinmisalign.mock and of its modules."""
    offenders = []
    files = [p for folder in ("kinmisalign", "scripts", "benchmarks")
             for p in sorted((ROOT / folder).rglob("*.py"))]
    for path in files:
        this = ".".join(path.resolve().relative_to(ROOT).with_suffix("").parts)
        inside = this.startswith("kinmisalign.mock")
        for module, names in _imports(path, ROOT):
            if not module.startswith("kinmisalign.mock"):
                continue
            private = [n for n in names if n.startswith("_")]
            if private:
                offenders.append(f"{this}: from {module} import {', '.join(private)}")
            # Outside the package only the package itself is imported from.
            if not inside and module != "kinmisalign.mock":
                offenders.append(f"{this}: imports {module} (use kinmisalign.mock)")
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "mock" and node.attr.startswith("_")):
                offenders.append(f"{this}: mock.{node.attr}")
    assert offenders == []


def test_no_import_cycle_through_mock():
    """No chain of imports (lazy ones in functions included) leads from a mock module back."""
    graph = {}
    for path in sorted((ROOT / "kinmisalign").rglob("*.py")):
        rel = path.resolve().relative_to(ROOT).with_suffix("").parts
        name = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        graph[name] = {m for m, _ in _imports(path, ROOT) if m.startswith("kinmisalign")}
    start = [n for n in graph if n.startswith("kinmisalign.mock")]
    assert "kinmisalign.mock._fits" in start
    for origin in start:
        seen, stack = set(), [(origin, (origin,))]
        while stack:
            node, chain = stack.pop()
            for nxt in graph.get(node, ()):
                assert nxt != origin, "import cycle: " + " -> ".join(chain + (nxt,))
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, chain + (nxt,)))


def _arrays_in_worker(galaxy):
    arrays = mock.make_maps_arrays(galaxy)
    return arrays.stellar_vel, arrays.gas_vel, arrays.binid


def test_mock_objects_pickle_and_travel_to_spawned_workers():
    galaxy = mock.random_galaxy(3, bundle_size=19, style="real")
    again = pickle.loads(pickle.dumps(galaxy))
    assert again == galaxy
    arrays = mock.make_maps_arrays(galaxy)
    back = pickle.loads(pickle.dumps(arrays))
    np.testing.assert_array_equal(back.stellar_vel, arrays.stellar_vel)
    assert back.galaxy == galaxy
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        stellar, gas, binid = pool.submit(_arrays_in_worker, galaxy).result(timeout=300)
    np.testing.assert_array_equal(stellar, arrays.stellar_vel)
    np.testing.assert_array_equal(gas, arrays.gas_vel)
    np.testing.assert_array_equal(binid, arrays.binid)
