"""Layout and figures of the documentation (issue 17), checked in the sources.

The HTML build itself (``sphinx-build -W``) is run by tox/CI; these tests read
``docs/*.rst`` and ``docs/conf.py`` so that they are fast and need no browser.
"""

import re
import runpy
import struct
from pathlib import Path

import pytest

__all__ = []

DOCS = Path(__file__).resolve().parent.parent / "docs"
IMAGE_DIRECTIVES = ("plot", "figure", "image")


def _figure_blocks():
    """Yield (page, line number, directive, options dict, body lines) of every figure."""
    for page in sorted(DOCS.glob("*.rst")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            match = re.match(r"^(\s*)\.\. (plot|figure|image)::", line)
            if not match:
                continue
            indent = len(match.group(1))
            block = []
            for following in lines[number + 1:]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                block.append(following)
            # The options come first, up to the first blank line; an option's value
            # may go on over lines that do not start a new option.
            options, key = {}, None
            while block and block[0].strip():
                text = block.pop(0).strip()
                option = re.match(r"^:([\w-]+):\s*(.*)$", text)
                if option:
                    key = option.group(1)
                    options[key] = option.group(2)
                elif key is not None:
                    options[key] += " " + text
            body = [text.strip() for text in block]
            yield page.name, number + 1, match.group(2), options, body


def _figures():
    return list(_figure_blocks())


def test_figures_are_found():
    kinds = {kind for _, _, kind, _, _ in _figures()}
    assert {"plot", "figure"} <= kinds


@pytest.mark.parametrize("page, line, kind, options, body", _figures(),
                         ids=lambda value: value if isinstance(value, (str, int)) else "")
def test_every_figure_has_alt_text_and_caption(page, line, kind, options, body):
    alt = options.get("alt", "")
    # Alt text describes the figure: words, not a file name.
    assert len(alt.split()) >= 8, f"{page}:{line}: no descriptive :alt: text"
    assert not re.search(r"\.(png|jpe?g|svg|pdf)\b", alt), f"{page}:{line}: alt text is a path"
    if kind == "plot":
        assert len(options.get("caption", "").split()) >= 8, f"{page}:{line}: no :caption:"
    elif kind == "figure":
        caption = " ".join(text for text in body if text)
        assert len(caption.split()) >= 8, f"{page}:{line}: the figure has no caption"
    else:
        pytest.fail(f"{page}:{line}: use '.. figure::' (with a caption), not '.. image::'")


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_landing_page_shows_the_real_galaxy():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    match = re.search(r"^\.\. figure:: (\S+)$", index, flags=re.M)
    assert match, "index.rst has no figure"
    image = DOCS / match.group(1)
    assert "7815-3702" in image.name and image.is_file()
    # Small enough to commit, drawn at 150 dpi (the QA figure is 10.5 in wide).
    assert image.stat().st_size <= 200_000
    width, height = _png_size(image)
    assert width >= 10.5 * 150 - 1
    # The caption says how the image was made.
    caption = next(body for page, _, kind, _, body in _figures()
                   if page == "index.rst" and kind == "figure")
    assert "kinmisalign fit" in " ".join(caption)


def test_index_links_the_indexes_and_says_formulas_need_mathjax():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    assert ":ref:`genindex`" in index
    assert ":ref:`modindex`" in index
    has_math = any(re.search(r":math:`|^\.\. math::", page.read_text(encoding="utf-8"), re.M)
                   for page in DOCS.glob("*.rst"))
    if has_math:
        assert "MathJax" in index and "CDN" in index


@pytest.fixture(scope="module")
def conf():
    pytest.importorskip("sphinx_astropy")
    return runpy.run_path(str(DOCS / "conf.py"))


def test_header_title_is_short_and_release_is_shown_elsewhere(conf):
    # "kinmisalign v0.1.dev141+g72bce2b44" ran into the navigation bar.
    assert conf["release"] not in conf["html_title"]
    assert len(conf["html_title"]) <= 20
    footer = conf["html_theme_options"]["footer_start"] + conf["html_theme_options"].get(
        "footer_end", [])
    assert "release" in footer
    template = (DOCS / "_templates" / "release.html").read_text(encoding="utf-8")
    assert "{{ release }}" in template
    assert "_templates" in conf["templates_path"]


def test_top_level_pages_have_no_empty_sidebar(conf):
    sidebars = conf["html_sidebars"]
    for page in DOCS.glob("*.rst"):
        if page.stem != "api":
            assert sidebars.get(page.stem) == [], page.name


def test_figures_drawn_at_150_dpi_at_least(conf):
    assert all(dpi >= 150 for _, dpi in conf["plot_formats"])
    assert conf["plot_rcparams"]["savefig.dpi"] >= 150


def test_long_code_lines_wrap(conf):
    for name in conf["html_css_files"]:
        css = (DOCS / "_static" / name).read_text(encoding="utf-8")
        if re.search(r"pre\s*\{[^}]*white-space:\s*pre-wrap", css):
            return
    pytest.fail("no style sheet makes long code lines wrap")
