"""Plain text: the role document's implicit structure (headings, labels, glued summaries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.formats.plaintext import split_glued_summary
from assistant.loading import parse, read_text
from assistant.types import Section


@pytest.fixture(scope="module")
def role_sections(role_path: Path) -> list[Section]:
    text, _ = read_text(role_path)
    return parse(text, role_path.name, ".txt")


def line_of(lines: list[str], text: str) -> int:
    """1-based number of the only line that equals `text` (stripped)."""
    found = [i + 1 for i, line in enumerate(lines) if line.strip() == text]
    assert len(found) == 1, f"{text!r} is on lines {found}"
    return found[0]


def find(sections: list[Section], *path: str, kind: str = "section") -> Section:
    matches = [s for s in sections if s.path == path and s.kind == kind]
    assert len(matches) == 1, f"{path} ({kind}): {len(matches)} matches"
    return matches[0]


def test_top_level_sections_are_recovered_in_order(role_sections, top_sections, role_lines):
    overviews = [s for s in role_sections if s.kind == "overview"]
    assert [s.path for s in overviews] == [(t,) for t in top_sections]
    for section in overviews:  # the heading unit sits on the heading's line in the file
        heading = section.units[0]
        assert heading.kind == "heading"
        assert heading.line == line_of(role_lines, section.path[0])
    assert {s.source for s in role_sections} == {"senior-machine-learning-scientist.txt"}


def test_sub_headings_belong_to_their_top_section(role_sections, role_lines):
    percentiles = find(role_sections, "Salary Ranges (US Market, 2024)",
                       "Percentile Breakdown (ZipRecruiter data)")
    assert [u.text for u in percentiles.units] == [
        "Top Earners: $150,500",
        "75th Percentile: $125,000",
        "Average: $110,545",
        "25th Percentile: $91,500",
        "Hourly rates: $43.99 (25th percentile) to $60.10 (75th percentile)",
    ]
    assert [u.line for u in percentiles.units] == [151, 152, 153, 154, 155]
    assert all(u.kind == "bullet" for u in percentiles.units)
    # the same sub-heading under two top-level sections stays apart
    career = find(role_sections, "Career Development", "Continuous Learning")
    soft = find(role_sections, "Essential Soft Skills", "Continuous Learning")
    assert [u.line for u in career.units] == [118, 119, 120]
    assert [u.line for u in soft.units] == [228, 229]
    # the overview of a top-level section lists its sub-headings as items
    salary = find(role_sections, "Salary Ranges (US Market, 2024)", kind="overview")
    items = [(u.text, u.line) for u in salary.units if u.kind == "item"]
    assert ("Percentile Breakdown (ZipRecruiter data)", 150) in items
    assert ("Geographic Variations", 156) in items
    assert all(role_lines[line - 1] == text for text, line in items)


def test_every_unit_quotes_its_own_line(role_sections, role_lines):
    for section in role_sections:
        for unit in section.units:
            assert unit.text in role_lines[unit.line - 1], (section.path, unit)


def closing_sentences(sections: list[Section], top: str, line: int) -> list[str]:
    """Sentences on `line` that belong to top-level section `top` itself (not a sub-section)."""
    return [u.text for s in sections if s.path == (top,) for u in s.units
            if u.kind == "sentence" and u.line == line]


def test_intro_prose_goes_to_the_overview(role_sections):
    salary = find(role_sections, "Salary Ranges (US Market, 2024)", kind="overview")
    first = next(u for u in salary.units if u.kind == "sentence")
    assert first.line == 146
    assert first.text.startswith("Senior Machine Learning Scientists in the United States")
    # the intro is not mistaken for a sub-section's bullet
    assert all(u.line != 146 for s in role_sections if len(s.path) > 1 for u in s.units)


def test_labels_group_the_bullets_under_them(role_sections):
    progression = find(role_sections, "Career Development", "Career Progression")
    labels = [u for u in progression.units if u.kind == "label"]
    assert [(u.text, u.line) for u in labels] == [
        ("Entry-Level (0-3 years):", 99),
        ("Mid-Level (3-5 years):", 102),
        ("Senior-Level (7-10+ years):", 107),
    ]
    entry = [u.line for u in progression.units if u.label == "Entry-Level (0-3 years):"]
    mid = [u.line for u in progression.units if u.label == "Mid-Level (3-5 years):"]
    assert entry == [100, 101]
    assert mid == [103, 104, 105, 106]
    cities = find(role_sections, "Salary Ranges (US Market, 2024)", "Geographic Variations")
    assert [u.text for u in cities.units if u.label == "High-paying cities:"] == [
        "San Buenaventura, CA (73.8% above national average)", "Santa Clara, CA",
        "Washington, DC"]
    assert cities.units[0].label == ""  # the bullet before the label belongs to no group


@pytest.mark.parametrize(("top", "sub", "line", "bullet", "summary_start"), [
    ("Core Responsibilities", "Communication and Presentation", 53,
     "Interpret, visualize, and communicate results in an actionable manner to drive "
     "decision-making.", "The role of a Senior Machine Learning Scientist or Engineer"),
    ("Essential Soft Skills", "Presentation of Insights", 235,
     "Deliver effective presentations to various stakeholders", "Mastering these soft skills"),
    ("Salary Ranges (US Market, 2024)", "Key Takeaways", 172,
     "Consider total compensation package, including benefits and bonuses",
     "Senior Machine Learning Scientists can expect competitive salaries"),
    ("Common Challenges", "Time and Planning Uncertainties", 299,
     "Accurately estimating project timelines amid uncertainties",
     "Addressing these challenges requires"),
])
def test_glued_summary_is_split_off_the_last_bullet(role_sections, top, sub, line, bullet,
                                                    summary_start):
    section = find(role_sections, top, sub)
    last = section.units[-1]
    assert (last.text, last.line, last.kind) == (bullet, line, "bullet")
    # the prose becomes sentences of the top-level section, not of the sub-section
    sentences = closing_sentences(role_sections, top, line)
    assert sentences and sentences[0].startswith(summary_start)
    assert not any(u.kind == "sentence" for u in section.units)


def test_split_glued_summary_on_the_issue_example():
    bullet = ("Effectively communicate complex concepts to stakeholders The role of a Senior "
              "Machine Learning Scientist is multifaceted, requiring a blend of technical "
              "expertise and leadership skills.")
    head, tail = split_glued_summary(bullet)
    assert head == "Effectively communicate complex concepts to stakeholders"
    assert tail.startswith("The role of a Senior Machine Learning Scientist is multifaceted")


@pytest.mark.parametrize("bullet", [
    # capitalised names and acronyms inside a bullet are not summaries
    "Top-paying companies (e.g., Meta, Google, twitter) offer $212,260 to $225,990 per year",
    "Strong proficiency in Python, with additional experience in languages like C++, "
    "JavaScript, or Go.",
    "Use tools like Arize for model observability to detect issues",
    # a short capitalised tail is not prose
    "Work closely with teams in Washington Today",
])
def test_bullets_without_a_summary_stay_whole(bullet):
    assert split_glued_summary(bullet) == (bullet, "")


def test_unglued_bullets_in_the_role_document_stay_whole(role_sections, role_lines):
    summary_lines = {u.line for s in role_sections if len(s.path) == 1 for u in s.units
                     if u.kind == "sentence"}
    assert {22, 53, 88, 124, 144, 172, 200, 235, 264, 299} <= summary_lines
    for section in role_sections:
        for unit in section.units:
            if unit.kind in ("bullet", "label") and unit.line not in summary_lines:
                assert role_lines[unit.line - 1] == f"- {unit.text}"
