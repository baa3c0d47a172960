"""House rules a reader feels: every function fits on a screen, every module holds one job, no import cycles."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted((ROOT / "gan_viz").rglob("*.py")) + [ROOT / "app.py"]
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in CODE}


def _imported_modules(path: Path) -> set[str]:
    """Every project module this file imports, anywhere in it (inside functions too): `from a import b` counts as
    a.b when that is a module of ours, else as a."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            out |= subs or ({node.module} & MODULES.keys())
    return out


def test_every_function_fits_on_a_screen():
    long = []
    for p in CODE:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions longer than a screen: " + "; ".join(long)


def test_every_module_holds_one_job():
    big = [f"{p.relative_to(ROOT)} ({n} lines)" for p in CODE if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not big, "modules over 400 lines: " + "; ".join(big)


def test_no_import_cycles():
    graph = {m: _imported_modules(p) - {m} for m, p in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import cycle: " + " -> ".join(path[path.index(n):] + [n])
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_cycle_finder_sees_a_cycle(tmp_path, monkeypatch):
    """The rule above can fail: two modules importing each other (one inside a function) are a cycle."""
    monkeypatch.setitem(MODULES, "gan_viz.x", tmp_path / "x.py")
    monkeypatch.setitem(MODULES, "gan_viz.y", tmp_path / "y.py")
    (tmp_path / "x.py").write_text("from gan_viz import y\n")
    (tmp_path / "y.py").write_text("def f():\n    import gan_viz.x\n")
    assert _imported_modules(tmp_path / "x.py") == {"gan_viz.y"}
    assert _imported_modules(tmp_path / "y.py") == {"gan_viz.x"}
    try:
        test_no_import_cycles()
    except AssertionError as e:
        assert "gan_viz.x -> gan_viz.y -> gan_viz.x" in str(e) or "gan_viz.y -> gan_viz.x -> gan_viz.y" in str(e)
    else:
        raise AssertionError("a cycle went unnoticed")


def test_the_ui_reads_no_config_dict():
    """The tabs ask a family's surface for what they show (layers, classes), never its config.json keys."""
    for p in (ROOT / "gan_viz" / "ui").rglob("*.py"):
        assert ".config[" not in p.read_text() and "config.get(" not in p.read_text(), p
