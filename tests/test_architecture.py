"""The package's shape: its modules import each other one way, stay short and say what they are.

Every module of ``kinmisalign/`` is parsed with `ast`; imports at any depth count, those
inside functions (lazy imports) included, because they tell a reader the same thing: which
module depends on which.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kinmisalign"
MAX_LINES = 700

# Nothing may be longer than MAX_LINES; an entry here would name an exception being worked on.
TOO_LONG_FOR_NOW = set()

# No module imports a private name of a public module; an entry here would name an exception
# being worked on, as (importing module, imported module, name).
PRIVATE_IMPORTS_FOR_NOW = set()


def _modules():
    """Module name -> (path, is a package)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "_version.py":  # written by setuptools_scm at build time
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _absolute(module, is_package, level, name):
    """The absolute name of a relative import ``from <level dots><name> import ...``."""
    if not level:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _is_private(module):
    return any(part.startswith("_") for part in module.split("."))


def _is_private_name(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Imports:
    """What one module imports from the package: edges and private names."""

    def __init__(self, module):
        path, is_package = MODULES[module]
        self.module = module
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.edges = {}  # imported module -> first line
        self.private = []  # (imported module, name, line)
        bound = {}  # local name -> package module it stands for
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(module, is_package, node.level, node.module)
                if not target or not (target == "kinmisalign"
                                      or target.startswith("kinmisalign.")):
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in MODULES:  # from . import batch
                        self._edge(submodule, node.lineno)
                        bound[alias.asname or alias.name] = submodule
                    else:
                        self._edge(target, node.lineno)
                        if _is_private_name(alias.name):
                            self.private.append((target, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "kinmisalign" or alias.name.startswith("kinmisalign."):
                        self._edge(alias.name, node.lineno)
                        if alias.asname:
                            bound[alias.asname] = alias.name
        # kinmisalign.batch._x, or batch._x after ``from . import batch``.
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute) and _is_private_name(node.attr):
                target = bound.get(_dotted(node.value))
                if target is not None:
                    self.private.append((target, node.attr, node.lineno))
                elif _dotted(node.value) in MODULES:
                    self.private.append((_dotted(node.value), node.attr, node.lineno))

    def _edge(self, target, line):
        if target != self.module:
            self.edges.setdefault(target, line)


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


IMPORTS = {module: _Imports(module) for module in MODULES}


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan), each as one cycle."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(_one_cycle(graph, set(component)), component) for component in components]


def _one_cycle(graph, component):
    """A closed path through the first module of a strongly connected component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first: the shortest way back to the start
        following = []
        for node in frontier:
            for other in sorted(graph.get(node, ())):
                if other == start:
                    return paths[node] + [start]
                if other in component and other not in paths:
                    paths[other] = paths[node] + [other]
                    following.append(other)
        frontier = following
    raise AssertionError("not a strongly connected component")  # pragma: no cover


def _graph():
    return {module: set(imports.edges) & set(MODULES) for module, imports in IMPORTS.items()}


def test_the_modules_are_all_found():
    # The parse itself is tested: a package with no modules found would pass everything.
    assert {"kinmisalign", "kinmisalign.batch", "kinmisalign.sources", "kinmisalign.marvin",
            "kinmisalign._checkpoint", "kinmisalign.classifier"} <= set(MODULES)
    assert "kinmisalign.exceptions" in IMPORTS["kinmisalign.batch"].edges


def test_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [(["a", "b", "c", "a"], ["a", "b", "c"])]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    lines = []
    for cycle, members in cycles:
        steps = [f"{a} -> {b} (line {IMPORTS[a].edges[b]})"
                 for a, b in zip(cycle[:-1], cycle[1:], strict=True)]
        lines.append(f"{', '.join(members)} depend on each other, e.g. {'; '.join(steps)}")
    assert not cycles, "import cycles (lazy imports count):\n" + "\n".join(lines)


def test_no_module_is_too_long():
    long = {module: len(path.read_text(encoding="utf-8").splitlines())
            for module, (path, _) in MODULES.items()}
    long = {module: n for module, n in long.items() if n > MAX_LINES}
    assert set(long) - TOO_LONG_FOR_NOW == set(), long
    # The exemption is narrow: it goes once the module is short.
    assert TOO_LONG_FOR_NOW <= set(long) | (TOO_LONG_FOR_NOW - set(MODULES))


def test_no_private_name_of_a_public_module_is_imported():
    found = set()
    where = []
    for module, imports in IMPORTS.items():
        for target, name, line in imports.private:
            if target == module or _is_private(target) or target.startswith(module + "."):
                # A module's own names, and the private modules of the package, are free to use.
                continue
            found.add((module, target, name))
            if (module, target, name) not in PRIVATE_IMPORTS_FOR_NOW:
                where.append(f"{module} (line {line}) uses {target}.{name}")
    assert not where, "private names of public modules used elsewhere:\n" + "\n".join(where)
    # The allowance is narrow: an entry goes once its import is gone.
    assert PRIVATE_IMPORTS_FOR_NOW <= found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_is_for(module):
    tree = IMPORTS[module].tree
    docstring = ast.get_docstring(tree)
    assert docstring, f"{module} has no docstring"
    assert docstring.splitlines()[0].strip(), f"{module}: the docstring's first line is empty"
    names = [target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(target, ast.Name)]
    assert "__all__" in names, f"{module} has no __all__"


def test_no_test_hooks_in_the_library():
    """Tests stop runs through their own runners; the library reads no test-only settings."""
    hooks = [(module, node.lineno) for module, imports in IMPORTS.items()
             for node in ast.walk(imports.tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and "KINMISALIGN_TEST" in node.value]
    assert not hooks, f"test-only hooks in the library: {hooks}"


# -- the contributors' page, docs/organisation.rst ----------------------------------------------

ORGANISATION = PACKAGE.parent / "docs" / "organisation.rst"


def _relative(module):
    """A module's name as the page writes it: relative to the package, or the package itself."""
    return module if module == "kinmisalign" else module.removeprefix("kinmisalign.")


def _layers(text):
    """Listed name -> layer, from the rows of the page's table of layers.

    A row starts with its layer number; its names are the ``double-quoted`` words on it and
    on the lines that continue it (which start with spaces).
    """
    layers, layer = {}, None
    for line in text.splitlines():
        row = re.match(r"(\d+) +(.*)", line)
        if row:
            layer, rest = int(row.group(1)), row.group(2)
        elif layer is not None and line.startswith(" ") and line.strip():
            rest = line
        else:
            layer = None
            continue
        for name in re.findall(r"``([\w.]+)``", rest):
            layers[name] = layer
    return layers


def _layer_of(module, layers):
    """The layer of the most specific listed name that is the module or one of its packages."""
    name = _relative(module)
    if name == "kinmisalign":
        return layers.get(name)
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in layers:
            return layers[".".join(parts[:n])]
    return None


def test_layer_table_is_read():
    # The parse itself is tested on a small table, so a page it cannot read does not pass.
    text = "Layer Modules\n===== =====\n2     ``a``, ``b.c``\n      ``d``\n0     ``b``\n=====\n"
    layers = _layers(text)
    assert layers == {"a": 2, "b.c": 2, "d": 2, "b": 0}
    assert _layer_of("kinmisalign.b.c.e", layers) == 2
    assert _layer_of("kinmisalign.b.x", layers) == 0
    assert _layer_of("kinmisalign.z", layers) is None


def test_every_module_is_named_on_the_organisation_page():
    text = ORGANISATION.read_text(encoding="utf-8")
    missing = [module for module in MODULES
               if not re.search(rf"`~?(kinmisalign\.)?{re.escape(_relative(module))}`", text)]
    assert not missing, f"modules not named on {ORGANISATION.name}: {missing}"


def test_imports_follow_the_layers_of_the_organisation_page():
    layers = _layers(ORGANISATION.read_text(encoding="utf-8"))
    assert len(set(layers.values())) > 5, "the table of layers was not found"
    unplaced = [module for module in MODULES if _layer_of(module, layers) is None]
    assert not unplaced, f"modules in no layer of {ORGANISATION.name}: {unplaced}"
    upward = []
    for module, imports in IMPORTS.items():
        for target, line in imports.edges.items():
            if target not in MODULES:
                continue
            if _layer_of(target, layers) > _layer_of(module, layers):
                upward.append(f"{module} (layer {_layer_of(module, layers)}, line {line}) "
                              f"imports {target} (layer {_layer_of(target, layers)})")
    assert not upward, (f"imports running up the layers of {ORGANISATION.name}:\n"
                        + "\n".join(upward))
