"""The house rules that keep the code readable: layers, one-line headers, no pickles."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's own files only: not a virtual environment a newcomer made inside the checkout (.venv, venv),
# nor anything else hidden, nor training runs.
SKIP = {"runs", "__pycache__", "venv", "env", "site-packages", "node_modules"}
PY = [p for p in ROOT.rglob("*.py")
      if not any(part in SKIP or part.startswith(".") for part in p.relative_to(ROOT).parts)]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_gradio_below_the_ui():
    for p in (ROOT / "gan_viz").rglob("*.py"):
        if "ui" in p.relative_to(ROOT / "gan_viz").parts:
            continue
        assert not any(n.split(".")[0] == "gradio" for n in _imports(p)), f"{p} imports gradio"


# One training aid reads another family's network, frozen: LBAM's perceptual and style losses take their features
# from the classifier's teacher. Only its training imports it; the app's LBAM needs nothing of the classifier.
TRAINING_AIDS = {("lbam/feature_loss.py", "gan_viz.models.cam_classifier.network")}


def test_families_do_not_import_each_other():
    models = ROOT / "gan_viz" / "models"
    families = [d.name for d in models.iterdir() if d.is_dir() and not d.name.startswith("_")]
    for fam in families:
        for p in (models / fam).rglob("*.py"):
            for n in _imports(p):
                if (p.relative_to(models).as_posix(), n) in TRAINING_AIDS:
                    continue
                for other in families:
                    assert other == fam or not n.startswith(f"gan_viz.models.{other}"), f"{p} imports {n}"


def test_the_apps_lbam_never_loads_the_classifier_for_its_training_losses():
    lbam = ROOT / "gan_viz" / "models" / "lbam"
    for name in ("network.py", "visualize.py", "masks.py"):
        assert "gan_viz.models.lbam.feature_loss" not in _imports(lbam / name)


def test_the_app_never_imports_training_code():
    for p in list((ROOT / "gan_viz" / "ui").rglob("*.py")) + [ROOT / "app.py"]:
        bad = [n for n in _imports(p) if n.endswith(".train") or n in ("gan_viz.training", "gan_viz.utkface")]
        assert not bad, f"{p} imports {bad}"


def test_every_file_says_what_it_owns_in_its_first_line():
    for p in PY:
        text = p.read_text()
        if p.name == "__init__.py" and not text.strip():
            continue
        doc = ast.get_docstring(ast.parse(text))
        assert doc and len(doc.splitlines()[0]) > 10, f"{p} lacks a one-line docstring"


def test_no_pickle_loading_anywhere():
    for p in PY:
        if "tests" in p.relative_to(ROOT).parts:
            continue
        text = p.read_text()
        assert "torch.load(" not in text and "pickle" not in _imports(p), f"{p} may unpickle"
