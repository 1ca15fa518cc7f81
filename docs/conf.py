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

# Unresolved references are not errors: without network access the external
# inventories are missing and every astropy/numpy link would fail.
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
