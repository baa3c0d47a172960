"""Model cards: one section order, benchmark tables put inside Evaluation, History carried across exports."""
from gan_viz import cards

STATIC = {"intended": "teach", "out_of_scope": "judge people", "limitations": "binary labels",
          "training_command": "`python -m x`", "evaluation_default": "not measured", "citation": "paper",
          "tags": ["t"], "metrics": ["m"], "by_group": True}


def _headings(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def test_a_card_has_the_sections_in_order_with_metadata():
    text = cards.render("T", "what it is", {"History": "h", "Intended uses": "i", "Evaluation": "e"}, ["t"], ["acc"])
    assert text.startswith("---\nlicense: other\n") and "datasets: [utkface]" in text and "metrics: [acc]" in text
    assert _headings(text) == ["Intended uses", "Evaluation", "History"]


def test_an_old_card_is_restructured_and_restructuring_twice_changes_nothing():
    old = ("---\nlicense: other\n---\n# Model\n\nIt does things.\n\n## Training settings\n| a | b |\n\n"
           "## Limits\nold limits\n\n## Quality (bench)\n| q |\n\n### 128px\nrows\n\n## How these weights came to be\n"
           "a story\n")
    new = cards.restructure(old, STATIC)
    assert _headings(new) == list(cards.SECTIONS)
    assert "### Quality (bench)" in new and "#### 128px" in new and "### Training settings" in new
    assert "### How these weights came to be\na story" in new and "old limits" not in new
    assert cards.restructure(new, STATIC) == new


def test_a_benchmark_table_replaces_its_own_subsection_only():
    card = cards.restructure("# M\n\nd\n", STATIC)
    once = cards.put_evaluation(card, "## Flip rate (bench)\nfirst table")
    twice = cards.put_evaluation(once, "## Flip rate (bench)\nsecond table")
    assert "second table" in twice and "first table" not in twice and twice.count("### Flip rate (bench)") == 1
    ev = cards.section(twice, "Evaluation")
    assert "second table" in ev and _headings(twice) == _headings(card)


def test_a_re_export_keeps_the_history_and_not_the_old_measurements():
    old = cards.put_section(cards.restructure("# M\n\nd\n", STATIC), "History", "2026-11-26: the first run")
    old = cards.put_evaluation(old, "## Flip rate\n90%")
    new = cards.carry_history(old, cards.restructure("# M\n\nd\n", STATIC))
    assert "2026-11-26: the first run" in new and "90%" not in new


def test_the_evaluation_lead_is_replaced_and_its_subsections_kept():
    card = cards.put_evaluation(cards.restructure("# M\n\nd\n", STATIC), "## Flip rate (bench)\na table")
    assert "not measured" in cards.section(card, "Evaluation")
    new = cards.put_lead(card, "Evaluation", "Measured: not offered, because of X.")
    ev = cards.section(new, "Evaluation")
    assert ev.startswith("Measured: not offered, because of X.") and "not measured" not in ev and "a table" in ev
    assert cards.put_lead(new, "Evaluation", "Measured: not offered, because of X.") == new
    assert _headings(new) == _headings(card)
