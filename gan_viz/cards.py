"""Model cards in the Hugging Face form (Mitchell et al. 2019): one section order for every family, and the helpers
that write them: the training scripts render a card, the benchmarks put their tables into its Evaluation."""
from __future__ import annotations

import re

SECTIONS = ("Intended uses", "Out-of-scope uses", "Evaluation", "Evaluation by group", "Limitations and bias",
            "Training", "Citation", "History")
UTKFACE = ("UTKFace (Zhang, Song and Qi, CVPR 2017): aligned face crops labelled with age, binary gender and a race "
           "label by annotators; **for non-commercial research and education only, and so are these weights.** "
           "Training used the project's training split; a tenth chosen by a salted hash of the file name "
           "(`gan_viz/utkface.py`) is the validation split every figure here is measured on.")
GENDER_LIMITS = ("Gender here is the binary label of UTKFace's annotation, shown as appearance: it says nothing about "
                 "anyone's gender identity. Never use this model to judge, infer or change a real person's gender, "
                 "nor for any decision about a person.")


def loss_rows(records: list[dict], key: str, n: int = 12) -> list[dict]:
    """About n evenly spaced records that logged `key`, always ending with the last one."""
    logged = [r for r in records if key in r]
    picked = logged[:: max(1, len(logged) // n)]
    if logged and logged[-1] is not picked[-1]:
        picked.append(logged[-1])
    return picked


def front_matter(tags: list[str], metrics: list[str]) -> str:
    return ("---\nlicense: other\nlicense_name: utkface-non-commercial\n"
            f"tags: [gan-viz, {', '.join(tags)}]\ndatasets: [utkface]\nmetrics: [{', '.join(metrics)}]\n---\n")


def render(title: str, description: str, sections: dict[str, str], tags: list[str], metrics: list[str]) -> str:
    """The card: YAML metadata, title, description, then SECTIONS in order (those given)."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"not a card section: {sorted(unknown)}")
    body = "".join(f"\n## {name}\n{sections[name].strip()}\n" for name in SECTIONS if name in sections)
    return f"{front_matter(tags, metrics)}# {title}\n\n{description.strip()}\n{body}"


def section(text: str, name: str) -> str | None:
    """The body of a card's "## name" section, or None."""
    m = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return m.group(1).strip() if m else None


def carry_history(old: str, new: str) -> str:
    """A re-exported card keeps the History its predecessor had (the hand-written record of every run); the
    measurements, which were of the old weights, are not carried."""
    kept = section(old, "History")
    if not kept:
        return new
    ours = section(new, "History")
    merged = kept if not ours or ours in kept else f"{ours}\n\n{kept}"
    return put_section(new, "History", merged)


def put_section(text: str, name: str, body: str, parent: str | None = None) -> str:
    """Replace (or add) "## name", or with parent "### name" inside "## parent", with body."""
    level = "###" if parent else "##"
    block = f"{level} {name}\n{body.strip()}\n"
    stop = r"(?=^### |^## |\Z)" if parent else r"(?=^## |\Z)"
    pattern = rf"^{level} {re.escape(name)}\n.*?{stop}"
    if re.search(pattern, text, flags=re.S | re.M):
        return re.sub(pattern, lambda _: block + "\n", text, count=1, flags=re.S | re.M)
    anchor = parent or name
    m = re.search(rf"^## {re.escape(anchor)}\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if parent and m:  # at the end of the parent section
        return text[:m.end()].rstrip() + "\n\n" + block + "\n" + text[m.end():]
    later = [s for s in SECTIONS[SECTIONS.index(name) + 1:]] if name in SECTIONS else []
    for s in later:  # before the first section that comes after it
        m = re.search(rf"^## {re.escape(s)}\n", text, flags=re.M)
        if m:
            return text[:m.start()] + block + "\n" + text[m.start():]
    return text.rstrip() + "\n\n" + block


def put_lead(text: str, name: str, lead: str) -> str:
    """Replace the paragraph(s) that open "## name", before its first "###" subsection, with lead."""
    m = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^### |^## |\Z)", text, flags=re.S | re.M)
    if m is None:
        return put_section(text, name, lead)
    return text[:m.start(1)] + lead.strip() + "\n\n" + text[m.end(1):]


# How the sections a family's card text (or an older card) carries map onto SECTIONS, by the start of their heading.
EVALUATION_HEADINGS = ("Metrics", "Through the app's photo path", "Flip rate, ", "Quality", "Where the translator looks",
                       "Adversarial examples", "Robustness")
HISTORY_HEADINGS = ("History", "How these weights came to be", "Training run", "Runs measured", "Flip rate under",
                    "The blend in photos")
TRAINING_HEADINGS = ("Training data", "Training settings", "Losses", "Loss and gamma")
DROPPED_HEADINGS = ("Limits",)  # replaced by the family's "Limitations and bias"


def _split(text: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(title, description, [(heading, body) of each "## " section]) of a card, front matter dropped."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    m = re.search(r"^# (.+)$", text, flags=re.M)
    title = m.group(1).strip() if m else ""
    rest = text[m.end():] if m else text
    parts = re.split(r"^## (.+)$", rest, flags=re.M)
    return title, parts[0].strip(), [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def _demote(heading: str, body: str) -> str:
    return f"### {heading}\n" + re.sub(r"^### ", "#### ", body, flags=re.M)


def restructure(text: str, static: dict) -> str:
    """A card's text in the SECTIONS order: the family's fixed sections from `static` (intended, out_of_scope,
    limitations, citation, training_command, tags, metrics, evaluation_default, by_group), its measured, training and
    history sections placed under Evaluation, Training and History. Idempotent: a card already in this form keeps
    what its sections hold."""
    title, description, found = _split(text)
    kept = {h: b for h, b in found if h in SECTIONS}
    evaluation = [_demote(h, b) for h, b in found if h.startswith(EVALUATION_HEADINGS) and h not in SECTIONS]
    training = [_demote(h, b) for h, b in found if h.startswith(TRAINING_HEADINGS) and h not in SECTIONS]
    history = [_demote(h, b) for h, b in found if h.startswith(HISTORY_HEADINGS) and h not in SECTIONS]
    sections = {"Intended uses": static["intended"], "Out-of-scope uses": static["out_of_scope"],
                "Evaluation": "\n\n".join(filter(None, [kept.get("Evaluation"), *evaluation]))
                or static["evaluation_default"],
                "Limitations and bias": static["limitations"],
                "Training": "\n\n".join(filter(None, [kept.get("Training") or static["training_command"], *training])),
                "Citation": static["citation"]}
    if static.get("by_group"):
        sections["Evaluation by group"] = kept.get("Evaluation by group") or (
            "Not measured yet for these weights: `python benchmarks/by_group.py --data DIR --write-cards`.")
    sections["History"] = "\n\n".join(filter(None, [kept.get("History"), *history])) or "The first export."
    return render(title, description, sections, static["tags"], static["metrics"])


def put_evaluation(card: str, block: str) -> str:
    """A benchmark's "## heading" block, put (or replaced) as "### heading" inside the card's Evaluation."""
    first, _, body = block.strip().partition("\n")
    return put_section(card, first.lstrip("#").strip(), re.sub(r"^### ", "#### ", body, flags=re.M), parent="Evaluation")
