"""The package has the shape of the book: a library with no import circle, apart from the experiments.

The library (every module of ``ragft`` outside ``ragft/experiments/``) never imports the experiments;
``ragft``'s own imports sit at the top of each module, so that the import graph a reader sees at the
top of a file is the whole graph; and signatures name the package's own types instead of ``Any``.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ragft"
# parameter names that stand for the package's own types (Question, Fact, Ticket, Chunk, Document, a retriever...)
OWN_TYPE_NAMES = {"question", "questions", "fact", "facts", "ticket", "tickets", "chunk", "chunks", "document",
                  "documents", "doc", "docs", "retriever", "dense", "reader", "updates", "shots", "data", "example",
                  "examples", "hits", "a", "b"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def _ragft_imports(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ragft"):
            found += [(node, node.module)] + [(node, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node, a.name) for a in node.names if a.name.startswith("ragft")]
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        for _, target in _ragft_imports(ast.parse(path.read_text())):
            while target and target not in mods:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target not in (m, "ragft"):
                edges[m].add(target)
    return edges


def test_the_import_graph_has_no_circle():
    edges = _graph()
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for t in sorted(edges[m]):
            assert state.get(t) != 1, "import circle: " + " -> ".join(path + [m, t])
            if t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [])


def test_the_library_never_imports_the_experiments():
    upward = [f"{m} -> {t}" for m, ts in _graph().items() for t in ts
              if t.startswith("ragft.experiments") and not m.startswith("ragft.experiments")]
    assert not upward


def test_ragft_imports_sit_at_the_top_of_each_module():
    local = []
    for m, path in _modules().items():
        tree = ast.parse(path.read_text())
        top = set(map(id, tree.body))
        local += [f"{path.name}:{node.lineno}" for node, _ in _ragft_imports(tree) if id(node) not in top]
    assert not local, f"function-local imports of ragft: {sorted(set(local))}"


def test_signatures_name_the_package_types_not_any():
    loose = []
    for m, path in _modules().items():
        if m.startswith("ragft.experiments"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs:
                    if arg.arg in OWN_TYPE_NAMES and arg.annotation is not None and "Any" in ast.unparse(arg.annotation):
                        loose.append(f"{m}.{node.name}({arg.arg}: {ast.unparse(arg.annotation)})")
    assert not loose, f"Any where the package's own type is meant: {loose}"
