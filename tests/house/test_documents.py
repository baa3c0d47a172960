"""The documents stay true: the README's test command is CI's, every command they name exists, every link resolves,
and nothing speaks of how the project was developed instead of what it is."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CARDS = sorted((ROOT / "checkpoints").glob("**/README.md"))
DOCS = [README, *CARDS, *sorted((ROOT / "docs").glob("*.md"))]
# How the project was made is history for the commit log, not words for its users. The words are put together
# from pieces so that this file, which the rule also reads, does not spell them.
_S, _L, _B, _SH, _O = "ses" + "sion", "le" + "nt", "bur" + "st", r"\.\./sh" + "ared", r"\$O" + "UT"
PROCESS_WORDS = [rf"\b[Ss]{_S[1:]} \d", rf"\b[Ss]{_S[1:]}s \d", rf"\bthis {_S}\b", rf"\b{_L}\b", rf"\b{_B}", _SH,
                 rf"{_O}\b"]


def _commands(text: str) -> list[str]:
    """The project's `python path.py ...` and `python -m gan_viz....` commands in a document (pytest, pip: not ours)."""
    return re.findall(r"\bpython3? (?:-m gan_viz[\w.]*|[\w./-]+\.py)", text)


def test_the_readme_test_command_is_the_one_ci_runs():
    block = README.read_text().split("## Run the tests", 1)[1].split("## ", 1)[0]
    readme_cmds = [line for line in re.findall(r"```bash\n(.*?)```", block, re.S)[0].splitlines() if "pytest" in line]
    ci = (ROOT / ".ci" / "run").read_text()
    ci_cmd = ci.split("# The README's test command:", 1)[1].strip().splitlines()[0]
    assert readme_cmds == [ci_cmd], (readme_cmds, ci_cmd)


def _missing(text: str) -> list[str]:
    """The commands of a document whose file or module does not exist in the repository."""
    out = []
    for cmd in _commands(text):
        target = cmd.split()[-1]
        if cmd.split()[1] == "-m":
            path = ROOT / Path(*target.split("."))
            ok = path.with_suffix(".py").exists() or (path / "__main__.py").exists()
        else:
            ok = (ROOT / target).exists()
        if not ok:
            out.append(cmd)
    return out


def test_every_command_in_the_documents_names_a_file_or_module_that_exists():
    missing = [f"{doc.relative_to(ROOT)}: {cmd}" for doc in DOCS for cmd in _missing(doc.read_text())]
    assert not missing, missing


def test_the_command_check_reports_a_name_that_does_not_exist():
    doc = ("run `python -m gan_viz.models.nothing.train`, `python benchmarks/nothing.py`, "
           "`python -m gan_viz.models.ugatit.train` and `python benchmarks/load.py`")
    assert _missing(doc) == ["python -m gan_viz.models.nothing.train", "python benchmarks/nothing.py"]


MODULES = sorted({c.split()[-1] for d in DOCS for c in _commands(d.read_text()) if c.split()[1] == "-m"})


@pytest.mark.parametrize("module", MODULES)
def test_every_module_the_documents_name_answers_help(module):
    out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "usage" in out.stdout.lower(), (module, out.stderr[-500:])


def test_every_relative_link_and_image_exists():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (doc.parent / target.split("#")[0]).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken


def _tracked_text_files() -> list[Path]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    out = []
    for name in files:
        p = ROOT / name
        if p.suffix in (".py", ".md", ".sh", ".js", ".html", ".css", ".txt", ".ini", ".json", ".yaml", ".yml") \
                or name == ".ci/run":
            out.append(p)
    return out


def test_nothing_speaks_of_how_the_project_was_developed():
    found = []
    for p in _tracked_text_files():
        if p == Path(__file__) or not p.exists():
            continue
        for n, line in enumerate(p.read_text(errors="ignore").splitlines(), 1):
            for word in PROCESS_WORDS:
                if re.search(word, line):
                    found.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert not found, "\n".join(found[:30])


def test_the_word_list_catches_a_process_word():
    assert any(re.search(w, f"trained in {_S} 11 on a {_L} GPU") for w in PROCESS_WORDS)
    assert all(any(re.search(w, text) for w in PROCESS_WORDS)
               for text in (f"{_S} 11", f"this {_S}", f"a {_B}", "../sh" + "ared/data", "$O" + "UT/x"))
    assert not any(re.search(w, "a visitor's session holds its state; a silent hub") for w in PROCESS_WORDS)
