"""Every notebook's first code cell, written from the one place that names the repository.

The repository's address and branch live in `_config.yml` (`repository: url, branch`); the website's
Colab buttons are made from them, and so is the setup cell below. After changing them (say, in a
fork), run this to rewrite the first code cell of every notebook:

    python tools/setup_cell.py            # rewrite the setup cells
    python tools/setup_cell.py --check    # exit 1 if any notebook's setup cell is out of date

Only the cell's source changes; it has no outputs outside Colab, so nothing needs re-running.
"""
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE = '''\
# Setup for Colab: installs this book's package and what Colab lacks
# (never torch), and prints what it did. Elsewhere it does nothing.
import sys
if "google.colab" in sys.modules:
    import subprocess
    SOURCE = "{source}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "--no-deps", f"ragft @ {{SOURCE}}"], check=True)
    from ragft.colab import install
    install()'''


def repository() -> dict:
    """``{"url", "branch", "org", "repo"}`` from `_config.yml`."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    url = repo["url"].rstrip("/")
    org, name = url.split("github.com/")[1].split("/")[:2]
    return {"url": url, "branch": repo.get("branch", "main"), "org": org, "repo": name}


def source() -> str:
    """The pip source of the ragft package: the repository at its branch."""
    r = repository()
    return f"git+{r['url']}@{r['branch']}"


def setup_cell() -> str:
    return TEMPLATE.format(source=source())


def site_url(page: str = "") -> str:
    """The published website's address of a page (``"book/scaling.html#scale-ex-index"``): GitHub Pages
    of the configured repository, where `.github/workflows/deploy.yml` publishes the book."""
    r = repository()
    return f"https://{r['org'].lower()}.github.io/{r['repo']}/{page}"


def colab_url(notebook: str) -> str:
    """The Colab address of a notebook (``"00_quick_tour"``) on the configured branch."""
    r = repository()
    return (f"https://colab.research.google.com/github/{r['org']}/{r['repo']}/blob/{r['branch']}"
            f"/notebooks/{notebook}.ipynb")


def first_code_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code")


def main(check: bool) -> int:
    stale = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = first_code_cell(nb)
        if cell.source != setup_cell():
            stale.append(path.name)
            if not check:
                cell.source = setup_cell()
                nbformat.write(nb, path)
    verb = "out of date" if check else "rewritten"
    print(f"{len(stale)} setup cells {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
