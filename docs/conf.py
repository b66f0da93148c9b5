"""Sphinx configuration of the bess-ray docs: Markdown pages (MyST) and the public Python API
from its docstrings. Built with warnings as errors (`python -m sphinx -W --keep-going docs
out/docs`, tests/e2e/test_docs.py), so a broken link, a missing page or a page in no table of
contents fails the build."""
project = "bess-ray"
author = "the bess-ray developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3          # links to sections: [text](backtests.md#artifacts)
autodoc_typehints = "description"
autodoc_member_order = "bysource"
html_theme = "furo"
html_title = "bess-ray"
nitpicky = False                  # type names in signatures are not pages of ours
