"""The reference in docs/ builds with warnings as errors: a broken link, a missing page or a page in
no table of contents fails it; and the front page's links lead to pages that exist."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def build(source, out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source),
                           str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    return build(ROOT / "docs", out), out


def test_the_docs_build_without_a_warning(built):
    p, out = built
    assert p.returncode == 0, p.stderr
    for page in ("index", "reproducibility", "backtests", "python-api", "performance"):
        assert (out / f"{page}.html").exists()
    api = (out / "python-api.html").read_text()
    for name in ("bess_ray.optimize", "bess_ray.backtest", "bess_ray.simulate", "bess_ray.sweep"):
        assert name in api, f"the Python API page documents {name}"


def test_a_broken_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    page = docs / "backtests.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    p = build(docs, tmp_path / "out")
    assert p.returncode != 0 and "no-such-page" in p.stderr


def test_the_readme_links_only_to_docs_that_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links, "the README points to the reference"
    for link in links:
        assert (ROOT / link).exists(), link
