"""Checks of the documentation that need no Sphinx build: what users look up must be there.

The flag table lists every bit, every configuration item is on the Configuration page, no
table has an empty header cell, every ``:ref:`` and ``:doc:`` target exists, and automodapi is
given one name per ``:skip:`` (the comma form leaves empty headings). User pages carry no
developer notes, and the DR17 run time they quote is the performance page's.
"""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import docutils.core
import docutils.nodes
import pytest
from astropy.config import ConfigItem

import kinmisalign
from kinmisalign.batch import FLAGS
from kinmisalign.config import Conf

DOCS = Path(__file__).resolve().parent.parent / "docs"
PACKAGE = Path(kinmisalign.__file__).resolve().parent
RST_FILES = sorted(DOCS.glob("*.rst"))


def _doctree(path):
    """The docutils tree of a page; Sphinx's own roles and directives are left unparsed."""
    return docutils.core.publish_doctree(
        path.read_text(encoding="utf-8"),
        source_path=str(path),
        settings_overrides={"report_level": 5, "halt_level": 5,
                            "file_insertion_enabled": False},
    )


def _flag_table():
    """The table of the guide's "Flags and problems" section."""
    tree = _doctree(DOCS / "guide.rst")
    for section in tree.findall(docutils.nodes.section):
        if "guide-flags" in section["names"] or "guide-flags" in section["ids"]:
            return next(iter(section.findall(docutils.nodes.table)))
    raise AssertionError("the guide has no section labelled guide-flags")


def test_flag_table_lists_every_bit():
    rows = [_rows_of(row) for row in _flag_table().findall(docutils.nodes.row)]
    assert rows[0] == ["bit", "name", "meaning", "what to do"]
    listed = {}
    for bits, names, meaning, advice in rows[1:]:
        assert meaning and advice, f"row {bits} lacks a meaning or advice"
        bit_numbers = [int(b) for b in re.split(r"[,\s]+", bits) if b]
        flag_names = re.findall(r"[A-Z_]{4,}", names)
        assert len(bit_numbers) == len(flag_names), f"row {bits}: {names}"
        listed.update(zip(flag_names, bit_numbers, strict=True))
    assert listed == {name: bit for name, (bit, _) in FLAGS.items()}


def _rows_of(row):
    return [entry.astext().strip() for entry in row.findall(docutils.nodes.entry)]


def test_every_config_item_is_documented_with_its_default():
    text = (DOCS / "configuration.rst").read_text(encoding="utf-8")
    assert ".. autoclass:: kinmisalign.config.Conf" in text
    items = {name: item for name, item in vars(Conf).items() if isinstance(item, ConfigItem)}
    assert items
    for name, item in items.items():
        default = item.defaultvalue
        if isinstance(default, list):  # the first of the options is the default
            default = default[0]
        row = re.search(rf"^``{name}``\s+``(.*?)``", text, flags=re.MULTILINE)
        assert row, f"conf.{name} is not in the table of docs/configuration.rst"
        assert row.group(1) == repr(default), f"conf.{name}: default {default!r}"
    assert "configuration" in (DOCS / "index.rst").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", RST_FILES, ids=lambda p: p.name)
def test_no_empty_table_header(path):
    for table in _doctree(path).findall(docutils.nodes.table):
        for head in table.findall(docutils.nodes.thead):
            for cells in (_rows_of(row) for row in head.findall(docutils.nodes.row)):
                assert all(cells), f"{path.name}: a table's header has an empty cell: {cells}"


@pytest.mark.parametrize("path", RST_FILES, ids=lambda p: p.name)
def test_no_table_row_cut_in_two(path):
    # In a simple table a cell's second line must leave the first column blank; written
    # otherwise, it becomes a row of its own, with empty cells beside it.
    for table in _doctree(path).findall(docutils.nodes.table):
        for cells in (_rows_of(row) for row in table.findall(docutils.nodes.row)):
            assert len(cells) < 2 or (cells[0] and cells[-1]), f"{path.name}: row {cells}"


def test_empty_header_check_catches_one(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text("=====  =====\n       s\n=====  =====\n1      2\n=====  =====\n")
    with pytest.raises(AssertionError, match="empty cell"):
        test_no_empty_table_header(page)


def _labels():
    """Labels of the docs: ``.. _name:`` targets."""
    labels = set()
    for path in RST_FILES:
        labels |= set(re.findall(r"^\.\. _([^:`]+):\s*$", path.read_text(encoding="utf-8"),
                                 flags=re.MULTILINE))
    return labels


def _sources():
    """Every text that Sphinx renders: the pages and the package's docstrings."""
    for path in RST_FILES:
        yield path, path.read_text(encoding="utf-8")
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def _role_targets(text, role):
    """Targets of ``:role:`text <target>``` and ``:role:`target``` in a text."""
    for match in re.finditer(rf":{role}:`([^`]+)`", text):
        content = " ".join(match.group(1).split())
        explicit = re.search(r"<([^>]+)>$", content)
        yield explicit.group(1) if explicit else content


def test_internal_references_resolve():
    # Sphinx's own: the general index, the module index and the search page.
    labels = set(_labels()) | {"genindex", "modindex", "search"}
    missing = []
    for path, text in _sources():
        for target in _role_targets(text, "ref"):
            if target.lower() not in {label.lower() for label in labels}:
                missing.append(f"{path.name}: :ref:`{target}`")
        for target in _role_targets(text, "doc"):
            base = DOCS if path.parent != DOCS else path.parent
            if not (base / f"{target.lstrip('/')}.rst").exists():
                missing.append(f"{path.name}: :doc:`{target}`")
    assert not missing, "unresolved references: " + ", ".join(missing)


def test_automodapi_skips_one_name_each():
    # automodapi reads ':skip: a, b' as one name, decides from that which headings to
    # write, and leaves an empty heading ("Classes") when every class is skipped.
    for path in RST_FILES:
        text = path.read_text(encoding="utf-8")
        for module, options in re.findall(r"^\.\. automodapi:: (\S+)\n((?:   :.*\n)*)", text,
                                           flags=re.MULTILINE):
            for skipped in re.findall(r":skip:(.*)", options):
                name = skipped.strip()
                assert re.fullmatch(r"\w+", name), f"{path.name} {module}: ':skip:{skipped}'"
                assert hasattr(sys.modules.get(module) or __import__(module, fromlist=["_"]),
                               name), f"{path.name}: {module} has no {name}"


@pytest.mark.slow
def test_sphinx_resolves_every_reference_to_the_package(tmp_path):
    # A nitpicky build (-n) warns of every unresolved cross-reference; docs/conf.py ignores
    # only other packages' names (no intersphinx offline), so one to the package's own
    # (kinmisalign.*, or a bare `UsabilityModel`) fails the build (-W).
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_astropy")
    env = {**os.environ, "KINMISALIGN_NO_INTERSPHINX": "1", "MPLBACKEND": "agg",
           "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent),
                                          os.environ.get("PYTHONPATH", "")])}
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-n", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=900, check=False)
    unresolved = sorted(set(re.findall(r"reference target not found: (\S+)", build.stderr)))
    assert not unresolved, f"unresolved references: {unresolved}"
    assert build.returncode == 0, build.stderr[-3000:]
    # constants re-exported from private modules show their own docstrings, not int's or tuple's
    builtin = [(page.name, doc) for page in sorted((tmp_path / "html" / "api").glob("*.html"))
               for doc in ("Built-in immutable sequence", "Convert a number or string to an",
                           "new empty dictionary", "Create a new string object")
               if doc in page.read_text(encoding="utf-8")]
    assert not builtin, builtin


@pytest.mark.parametrize("function", [kinmisalign.fit_pa, kinmisalign.add_kinematic_columns,
                                      kinmisalign.classify, kinmisalign.read_maps],
                         ids=lambda f: f.__name__)
def test_examples_run(function):
    # The package's docstrings are not collected by pytest (testpaths are tests and docs):
    # the Examples sections users copy are run here, offline, on mock files.
    assert re.search(r"^\s*Examples\n\s*--------\n", function.__doc__, flags=re.MULTILINE)
    tests = doctest.DocTestFinder(recurse=False).find(function, function.__name__,
                                                      globs={})
    examples = [example for test in tests for example in test.examples]
    assert any(example.want.strip() for example in examples), "no example shows its output"
    assert not any("+SKIP" in example.source or doctest.SKIP in example.options
                   for example in examples)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0


def test_cite_page():
    tree = _doctree(DOCS / "cite.rst")
    table = next(iter(tree.findall(docutils.nodes.table)))
    rows = [_rows_of(row) for row in table.findall(docutils.nodes.row)]
    # each row one use and its citation: a simple table cut a cell's second line into a row
    assert rows[0] == ["you used", "please cite"]
    assert all(cell.count("(") == cell.count(")") for row in rows for cell in row), rows
    assert any(row[0].startswith("position angles") and "DPA" in row[0] for row in rows)
    # the BibTeX of the package: a literal block whose URL is text, not a link, so that
    # copying it gives the entry as written
    entry = [block for block in tree.findall(docutils.nodes.literal_block)
             if "@software" in block.astext()]
    assert len(entry) == 1
    assert "url     = {https://github.com/" in entry[0].astext()
    assert not list(entry[0].findall(docutils.nodes.reference))


# Pages for users, as opposed to the contributors' page and the changelog.
USER_PAGES = [path for path in RST_FILES if path.name not in ("organisation.rst", "changes.rst")]
DEVELOPER_NOTES = ("load average", "before these changes", "this project's", "this machine",
                   "virtual machine drifts", "takes hours")


@pytest.mark.parametrize("path", USER_PAGES, ids=lambda p: p.name)
def test_user_pages_carry_no_developer_notes(path):
    text = " ".join(path.read_text(encoding="utf-8").lower().split())
    assert not [note for note in DEVELOPER_NOTES if note in text]


def test_dr17_run_time_is_the_same_on_every_page():
    table = next(iter(_doctree(DOCS / "performance.rst").findall(docutils.nodes.table)))
    rows = [_rows_of(row) for row in table.findall(docutils.nodes.row)]
    assert rows[0][-1] == "DR17 (11,000)"
    one, two = ([row for row in rows if row[0].startswith(start)][0][-1]
                for start in ("one process", "two worker processes"))
    for page in ("guide.rst", "parallel.rst"):
        text = " ".join((DOCS / page).read_text(encoding="utf-8").split())
        assert f"about {two.removesuffix(' minutes')} minutes" in text, page
    guide = " ".join((DOCS / "guide.rst").read_text(encoding="utf-8").split())
    assert f"{one} in one process" in guide
