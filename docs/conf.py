"""Sphinx configuration of the kinmisalign documentation."""

import datetime
import os
import pathlib

try:
    from sphinx_astropy.conf.v2 import *  # noqa: F403  (the astropy-wide defaults)
except ImportError:
    raise ImportError(
        "building the documentation needs sphinx-astropy: pip install 'kinmisalign[docs]'"
    ) from None

import kinmisalign

# -- Project ---------------------------------------------------------------------------------
project = "kinmisalign"
author = "kinmisalign developers"
copyright = f"{datetime.date.today().year}, {author}"

release = kinmisalign.__version__
# The short X.Y version shown in the page header.
version = ".".join(release.split(".")[:2])

# -- General ---------------------------------------------------------------------------------
exclude_patterns.extend(["_templates", "_build", "Thumbs.db", ".DS_Store"])  # noqa: F405
rst_epilog += """
.. |PA| replace:: position angle
"""  # noqa: F405

# Not nitpicky by default; tox -e build_docs passes -n, and nitpick_ignore_regex (below)
# leaves out other packages' names, which resolve only through intersphinx.
nitpicky = False

# Offline builds (tox build_docs, CI) set KINMISALIGN_NO_INTERSPHINX=1: with
# -W, a failed inventory download would otherwise fail the build.
if os.environ.get("KINMISALIGN_NO_INTERSPHINX", "") not in ("", "0"):
    intersphinx_mapping = {}
else:
    intersphinx_mapping.update(  # noqa: F405
        {
            "astropy": ("https://docs.astropy.org/en/stable/", None),
            "matplotlib": ("https://matplotlib.org/stable/", None),
        }
    )

# automodapi: one page per public name, under docs/api/ (generated, not committed).
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False

# The matplotlib plot directive: draw the figures at build time, PNG only, at
# 150 dpi so that they stay sharp on high-density screens.
plot_formats = [("png", 150)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_include_source = True
# A wider margin around the constrained layout: with the default 3 pt, the
# last tick label of a histogram ("1.0") was cut at the figure's edge.
plot_rcparams = {
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "figure.constrained_layout.w_pad": 0.08,
    "figure.constrained_layout.h_pad": 0.08,
}

# -- HTML ------------------------------------------------------------------------------------
# A short title: the full "kinmisalign v<release>" ran into the navigation bar.
# The release is shown in the footer instead (_templates/release.html).
html_title = project
htmlhelp_basename = f"{project}doc"
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["kinmisalign.css"]
html_theme_options.update(  # noqa: F405
    {
        "github_url": "https://github.com/kinmisalign/kinmisalign",
        # Fourteen top-level pages do not fit in the header: the rest go into "More".
        "header_links_before_dropdown": 5,
        "navbar_align": "left",
        "footer_start": ["copyright", "release"],
        "footer_end": ["sphinx-version"],
    }
)
# No "Section Navigation" column: the top-level pages have no sub-pages, and
# the empty column squeezed the text (and cut off code lines). Only the API
# reference, which has one page per public name, keeps it. (Sphinx refuses a
# page that matches two patterns, hence the explicit list of top-level pages.)
_docs_dir = pathlib.Path(__file__).parent
html_sidebars = {page.stem: [] for page in _docs_dir.glob("*.rst") if page.stem != "api"}


# -- Cross-references to kinmisalign's own names (docs checks, issue 17) ---------------------
# automodapi documents a re-exported name once, under `kinmisalign` (kinmisalign.UsabilityModel),
# and renders a docstring in the module of its page: `kinmisalign.classifier.load_model`, or a
# bare `UsabilityModel` in kinmisalign.classifier.training, would find no target. Such a
# reference goes to the one documented kinmisalign object whose name ends with it (preferring
# the page's module); an ambiguous or unknown one stays unresolved, and tests/test_docs.py
# fails on it.
def _kinmisalign_reference(app, env, node, contnode):
    import sys

    if node.get("refdomain") != "py" or node.get("reftype") == "mod":
        return None
    domain = env.get_domain("py")
    parts = node["reftarget"].lstrip("~.").split(".")
    tails = [parts]
    if parts[0] == "kinmisalign":
        # kinmisalign.<modules>.<name>: the name after fewer and fewer of its modules
        tails = [parts[i:] for i in range(1, len(parts))
                 if ".".join(parts[:i]) in sys.modules]
    module = node.get("py:module") or ""
    for tail in tails:
        suffix = "." + ".".join(tail)
        found = [name for name, entry in domain.objects.items()
                 if name.startswith("kinmisalign.") and name.endswith(suffix)
                 and not entry.aliased]
        if len(found) > 1:
            found = [name for name in found if name.startswith(module + ".")] if module else []
        if len(found) == 1:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       found[0], node, contnode)
        if found:
            return None
    return None


# A nitpicky build (tox -e build_docs: -n -W) fails on any unresolved reference to the
# package; those to other packages resolve only through intersphinx, which offline builds
# turn off.
nitpick_ignore_regex = [
    ("py:.*", rf"{package}(\..*)?")
    for package in ("numpy", "astropy", "matplotlib", "dask", "keras", "pafit", "os", "ast")
]


# A constant that a package re-exports from a private module (kinmisalign.mock.BUNDLE_SIZES,
# from kinmisalign.mock._instrument) has its docstring there, where autodoc does not look: it
# would show the docstring of int or tuple instead. Take the one written in the defining
# module (or none).
def _module_data_docstring(app, what, name, obj, options, lines):
    import sys

    from sphinx.pycode import ModuleAnalyzer

    if what != "data" or not name.startswith("kinmisalign."):
        return
    builtin_doc = (type(obj).__doc__ or "").split("\n")[0].strip()
    text = [line.strip() for line in lines if line.strip()]
    if not text or text[0] != builtin_doc:
        return
    package, attribute = name.rsplit(".", 1)
    for module in sorted(m for m in sys.modules if m.startswith(package + ".")):
        if getattr(sys.modules[module], attribute, None) is not obj:
            continue
        try:
            doc = ModuleAnalyzer.for_module(module).find_attr_docs().get(("", attribute))
        except Exception:  # no source to read: leave the docstring empty
            doc = None
        if doc:
            lines[:] = list(doc)
            return
    lines[:] = []


def setup(app):
    app.connect("missing-reference", _kinmisalign_reference)
    app.connect("autodoc-process-docstring", _module_data_docstring)
