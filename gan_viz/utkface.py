"""UTKFace reading for the training scripts: labels from file names, a stable split, decoded arrays cached on disk.

The app and the tests never import this with the real data; the training scripts take
the folder as an argument (--data DIR). File name:
``[age]_[gender]_[race]_[date&time].jpg.chip.jpg`` with gender 0 = male, 1 = female.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# UTKFace's race labels, as its annotators gave them: used only to report how well the models work for each group.
RACES = ("White", "Black", "Asian", "Indian", "Others")
# Age groups of the classifier's second head; upper bounds are inclusive.
AGE_GROUPS = ("0-12", "13-19", "20-39", "40-59", "60+")
_AGE_UPPER = (12, 19, 39, 59, 10_000)


def age_group(age: int) -> int:
    """Index into AGE_GROUPS for an age in years."""
    for i, upper in enumerate(_AGE_UPPER):
        if age <= upper:
            return i
    raise ValueError(f"age {age} out of range")


@dataclass(frozen=True)
class Record:
    path: str
    age: int
    gender: int  # 0 male, 1 female (as in the file name)
    race: int = -1  # the data set's label (RACES), -1 where the name has none; only for reporting results by group

    @property
    def is_validation(self) -> bool:
        # 10% validation, chosen by a salted hash of the file name so every script and
        # every machine agrees on the split without a file listing it. The salt matters:
        # the plain hash of the name is 0 mod 10 for no file here (that tenth was held out).
        key = ("gan-viz-validation:" + os.path.basename(self.path)).encode()
        return int(hashlib.sha1(key).hexdigest(), 16) % 10 == 0


def records(folder: str | os.PathLike) -> list[Record]:
    """Every parseable image in the folder; malformed names are skipped (a few exist in the wild)."""
    out = []
    for name in sorted(os.listdir(folder)):
        parts = name.split("_")
        if len(parts) < 4 or not name.endswith(".jpg"):
            continue
        try:
            age, gender = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        if gender not in (0, 1):
            continue
        race = int(parts[2]) if parts[2].isdigit() and int(parts[2]) < len(RACES) else -1
        out.append(Record(os.path.join(folder, name), age, gender, race))
    if not out:
        raise FileNotFoundError(f"no UTKFace images found in {folder}")
    return out


def write_pack(path: str | os.PathLike, recs: list[Record], images: np.ndarray, fmt: str = "WEBP",
               quality: int = 82) -> int:
    """Write uint8 (N, S, S, 3) images of these records as a face pack; returns its size in bytes.

    Encoded bytes under `jpeg` (WebP or JPEG), `offsets`, labels and file names; load_pack reads either
    format. WebP is the default because at the same look it takes well under JPEG's bytes, and a pack is
    what travels to a GPU machine. A pack holds the data set's pixels: write it to a git-ignored folder only.
    """
    import io

    blobs = []
    for img in images:
        b = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img)).save(b, fmt, quality=quality)
        blobs.append(np.frombuffer(b.getvalue(), np.uint8))
    np.savez(path, jpeg=np.concatenate(blobs), offsets=np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64),
             gender=np.array([r.gender for r in recs], np.int8), age=np.array([r.age for r in recs], np.int16),
             name=np.array([os.path.basename(r.path) for r in recs]))
    return os.path.getsize(path)


def load_pack(path: str | os.PathLike) -> tuple[list[Record], np.ndarray]:
    """Records and uint8 (N, S, S, 3) pixels of a face pack (scripts/pack_faces.py, write_pack).

    The compact form the faces travel in to a GPU machine; records carry the original file names, so
    `is_validation` splits a pack exactly as it splits the folder.
    """
    import io

    d = np.load(path)
    jpeg, offsets = d["jpeg"], d["offsets"]
    recs = [Record(str(n), int(a), int(g)) for n, a, g in zip(d["name"], d["age"], d["gender"])]

    def decode(i: int) -> np.ndarray:
        with Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())) as im:
            return np.asarray(im.convert("RGB"))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return recs, np.stack(list(pool.map(decode, range(len(recs)))))


def load_face(path: str, size: int) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))


def to_input(batch_u8):
    """(B, H, W, 3) uint8 tensor -> (B, 3, H, W) float in [-1, 1], the input convention of every model here."""
    return batch_u8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def load_images(recs: list[Record], size: int, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Decode and resize to uint8 (N, size, size, 3); cached as .npy so restarts skip the JPEG decoding.

    The cache holds pixels of the data set: it lives outside the repository (default
    $GAN_VIZ_CACHE or ~/.cache/gan-viz) and must never be committed.
    """
    cache_dir = Path(cache_dir or os.environ.get("GAN_VIZ_CACHE") or Path.home() / ".cache" / "gan-viz")
    key = hashlib.sha1(("\n".join(r.path for r in recs) + f"@{size}").encode()).hexdigest()[:16]
    cache = cache_dir / f"utkface-{size}-{key}.npy"
    if cache.exists():
        return np.load(cache, mmap_mode="r")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        arr = np.stack(list(pool.map(lambda r: load_face(r.path, size), recs)))  # (N, H, W, 3) uint8
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")  # DDP ranks may decode at once: write, then rename
    np.save(tmp, arr)
    os.replace(tmp, cache)
    return arr


def in_picture(face: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int]]:
    """A validation face placed at its own size at a random spot of a larger picture with a plain background.

    What a user's photo looks like to the app, minus the clutter: the app has to find the face
    itself (detect, level, crop) instead of taking the "already a crop" shortcut. Returns the
    picture and the face's top-left corner. Picture sides are 2-3x the face's.
    """
    s = face.shape[0]
    h, w = (rng.uniform(2.0, 3.0, 2) * s).astype(int)
    colour = rng.integers(0, 256, 3).astype(np.uint8)
    pic = np.empty((h, w, 3), np.uint8)
    pic[:] = colour
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    pic[y:y + s, x:x + s] = face
    return pic, (x, y)
