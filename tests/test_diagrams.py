"""The chapters' diagrams: each chapter page draws one from a Graphviz source in book/diagrams/, and the
decision flow chart of chapter 7 ends where ``ragft.choose.recommend`` does, for every combination of answers."""
import itertools
import re
from pathlib import Path

import pytest

from ragft import choose
from ragft.choose import FAST_CHANGE, Requirements, recommend

ROOT = Path(__file__).resolve().parents[1]
DIAGRAMS = ROOT / "book" / "diagrams"
CHAPTERS = ["purpose", "architecture", "training_data", "use_cases", "head_to_head", "combining", "choosing",
            "reliability", "scaling"]


def flow_chart(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Nodes (name -> label, tooltip) and edges (name -> {edge label or "": target}) of a Graphviz file."""
    text = re.sub(r"//[^\n]*", "", path.read_text())
    nodes, edges = {}, {}
    for m in re.finditer(r"^\s*(\w+)\s*\[(.*?)\];", text, re.M):
        if m.group(1) in ("graph", "node", "edge"):
            continue
        attrs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        nodes[m.group(1)] = {"label": attrs.get("label", m.group(1)), "tooltip": attrs.get("tooltip", "")}
    for m in re.finditer(r"(\w+)\s*->\s*(\w+)\s*(?:\[label=\"(\w+)\"\])?\s*;", text):
        edges.setdefault(m.group(1), {})[m.group(3) or ""] = m.group(2)
    return nodes, edges


def walk(nodes, edges, req: Requirements) -> str:
    """Follow the chart for ``req``: each question's tooltip is the Python condition it tests."""
    name, seen = "start", 0
    while name in edges:
        out = edges[name]
        if "yes" in out:
            condition = nodes[name]["tooltip"]
            assert condition, f"question {name} has no condition in its tooltip"
            name = out["yes" if eval(condition, {"FAST_CHANGE": FAST_CHANGE}, {"req": req}) else "no"]
        else:
            name = out[""]
        seen += 1
        assert seen < 50, "the chart has a cycle"
    return nodes[name]["label"].split("\\n")[0]


def chart_disagreements(path: Path) -> int:
    """How many combinations of answers end somewhere else on the chart than in ``recommend``."""
    nodes, edges = flow_chart(path)
    wrong = 0
    for change, private, sources, style, examples, access, delete in itertools.product(
            choose.CHANGE_RATES, (False, True), (False, True), (False, True), (0, 1, 160), (False, True),
            (False, True)):
        req = Requirements(change, needs_private_knowledge=private, labelled_examples=examples, needs_sources=sources,
                           latency_budget_ms=1000, needs_style_or_format=style, per_user_access=access,
                           must_delete=delete)
        wrong += walk(nodes, edges, req) != recommend(req).choice
    return wrong


def test_a_chart_that_leaves_out_a_question_is_caught(tmp_path):
    chart = (DIAGRAMS / "choosing.dot").read_text()
    planted = tmp_path / "planted.dot"
    planted.write_text(chart.replace('delete -> retrieval [label="yes"]', 'delete -> no_retrieval [label="yes"]'))
    assert chart_disagreements(planted) > 0


def test_the_decision_chart_ends_where_recommend_does():
    assert chart_disagreements(DIAGRAMS / "choosing.dot") == 0
    nodes, edges = flow_chart(DIAGRAMS / "choosing.dot")
    leaves = {node["label"].split("\\n")[0] for name, node in nodes.items() if name not in edges}
    assert leaves == set(choose.CHOICES), "the chart's ends are exactly the choices recommend() can make"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_page_draws_a_diagram_from_source(chapter):
    text = (ROOT / "book" / f"{chapter}.md").read_text()
    sources = re.findall(r"^```\{graphviz\} (diagrams/[\w-]+\.dot)\n", text, re.M)
    assert sources, f"book/{chapter}.md has no Graphviz diagram"
    for source in sources:
        assert (ROOT / "book" / source).is_file(), source
        block = text.split(f"{{graphviz}} {source}\n", 1)[1].split("```", 1)[0]
        assert re.search(r"^:alt: \S", block, re.M) and re.search(r"^:caption: \S", block, re.M), \
            f"{source}: the diagram needs alt text and a caption"
