"""Markdown as HR writes it: front matter, deep headings, links, tables, wraps, HTML, templates."""

from __future__ import annotations

from assistant.chunking import render_unit
from assistant.formats.markdown import read_markdown
from assistant.types import Section

HANDBOOK = """\
---
title: "Backend Engineer "
job_family: Engineering
levels: [intermediate, senior]
---

<a id="top"></a>
## Backend Engineer

Backend Engineers build the [core platform](/handbook/platform) that
serves our customers. Sr. engineers lead reviews.

## Levels

### Senior Backend Engineer

The Senior role extends the [Intermediate](#intermediate) role.

#### Job Grade

The Senior Backend Engineer is a [grade 7](/handbook/grades/#grade-7).

#### Responsibilities

- Advocate for improvements to product quality, security, and performance that
  have particular impact across your team.
- Technical skills
  - Go and Ruby
  - PostgreSQL <b>at scale</b>
- Typical duties include:
- Code review
- On-call rotations

#### Requirements

You will need:

- 5+ years of experience
- {% slack_channel "backend" %} membership

| Level | Grade |
|---|---|
| Senior | 7 |
| Staff | 8 |

---

### Staff Backend Engineer

**Responsibilities**

- Leads {{< member "alice" >}} technical direction
"""


def sections() -> list[Section]:
    return read_markdown(HANDBOOK, "backend.md").sections


def find(path: tuple[str, ...]) -> Section:
    [section] = [s for s in sections() if s.path == path]
    return section


def test_front_matter_is_metadata_and_names_the_document():
    parsed = read_markdown(HANDBOOK, "backend.md")
    assert parsed.title == "Backend Engineer"
    assert parsed.metadata["job_family"] == "Engineering"
    assert parsed.metadata["levels"] == ["intermediate", "senior"]
    texts = " ".join(u.text for s in parsed.sections for u in s.units)
    assert "job_family" not in texts and "title:" not in texts


def test_headings_nest_at_every_depth_and_the_title_heading_is_not_repeated():
    paths = [s.path for s in sections()]
    assert paths == [
        (),  # the "## Backend Engineer" intro: it repeats the title, so it is the title
        ("Levels",),
        ("Levels", "Senior Backend Engineer"),
        ("Levels", "Senior Backend Engineer", "Job Grade"),
        ("Levels", "Senior Backend Engineer", "Responsibilities"),
        ("Levels", "Senior Backend Engineer", "Requirements"),
        ("Levels", "Staff Backend Engineer"),
        # a bold line on its own is a heading, one level under the last real one
        ("Levels", "Staff Backend Engineer", "Responsibilities"),
    ]
    levels = find(("Levels",))
    assert levels.kind == "overview"
    assert [u.text for u in levels.units if u.kind == "item"] == [
        "Senior Backend Engineer", "Staff Backend Engineer"]


def test_links_read_as_their_text_and_keep_their_target():
    intro = find(())
    first = intro.units[0]
    assert first.text == "Backend Engineers build the core platform that serves our customers."
    assert first.links == ("/handbook/platform",)
    assert first.line == 10  # the paragraph's first line in the file
    grade = find(("Levels", "Senior Backend Engineer", "Job Grade")).units[1]
    assert grade.text == "The Senior Backend Engineer is a grade 7."
    assert grade.links == ("/handbook/grades/#grade-7",)
    extends = find(("Levels", "Senior Backend Engineer")).units[1]
    assert extends.text == "The Senior role extends the Intermediate role."
    assert extends.links == ()  # an in-page anchor is not a target worth keeping


def test_sentences_do_not_break_at_abbreviations():
    intro = [u.text for u in find(()).units]
    assert "Sr. engineers lead reviews." in intro


def test_wrapped_items_join_nested_groups_keep_their_label_and_html_is_removed():
    units = find(("Levels", "Senior Backend Engineer", "Responsibilities")).units
    body = [(u.kind, u.text, u.label, u.depth) for u in units if u.kind != "heading"]
    assert body == [
        ("bullet", "Advocate for improvements to product quality, security, and performance "
                   "that have particular impact across your team.", "", 0),
        ("label", "Technical skills", "", 0),  # no colon, still the group's label
        ("bullet", "Go and Ruby", "Technical skills", 1),
        ("bullet", "PostgreSQL at scale", "Technical skills", 1),
        ("label", "Typical duties include:", "", 0),  # a "...:" item labels its siblings
        ("bullet", "Code review", "Typical duties include:", 1),
        ("bullet", "On-call rotations", "Typical duties include:", 1),
    ]
    assert render_unit(units[3]) == "  - Go and Ruby"


def test_a_colon_paragraph_labels_its_list():
    requirements = find(("Levels", "Senior Backend Engineer", "Requirements"))
    body = [(u.kind, u.text, u.label) for u in requirements.units if u.kind != "heading"]
    assert body[:3] == [
        ("label", "You will need:", ""),
        ("bullet", "5+ years of experience", "You will need:"),
        ("bullet", "backend membership", "You will need:"),  # a template tag reads as its text
    ]


def test_table_rows_are_units_with_their_column_headers():
    requirements = find(("Levels", "Senior Backend Engineer", "Requirements"))
    rows = [(u.text, u.line) for u in requirements.units if u.kind == "row"]
    assert rows == [("Level: Senior; Grade: 7", 43), ("Level: Staff; Grade: 8", 44)]


def test_hugo_shortcodes_and_rules_leave_no_trace():
    staff = find(("Levels", "Staff Backend Engineer", "Responsibilities"))
    assert [u.text for u in staff.units if u.kind == "bullet"] == ["Leads technical direction"]
    everything = " ".join(u.text for s in sections() for u in s.units)
    for debris in ("{{", "{%", "<a", "---", "**", "](", "<b>"):
        assert debris not in everything


def test_every_unit_line_points_into_the_file():
    lines = HANDBOOK.splitlines()
    for section in sections():
        for unit in section.units:
            assert 1 <= unit.line <= len(lines), unit


def test_html_table_with_row_and_column_spans_is_read_cell_by_cell():
    text = """# Design levels

<table>
  <thead><tr><th>Level</th><th>Strategy</th><th>Execution</th></tr></thead>
  <tbody>
    <!-- IC1 -->
    <tr>
      <th rowspan="2"><abbr title="Individual Contributor">IC</abbr>1</th>
      <td colspan="2"><p>Entry level, with guidance.</p>
        <ul><li>Delivers assigned designs</li></ul></td>
    </tr>
    <tr>
      <td><ul><li>Understands their product and its users in depth every single day</li>
      <li>Knows the competitors and their solutions and the gaps between them</li></ul></td>
      <td>Uses our design system</td>
    </tr>
  </tbody>
</table>
"""
    parsed = read_markdown(text, "design.md")
    assert parsed.title == "Design levels"
    # a long row's header (the level) opens a sub-section; each cell is a unit of it
    overview, level = parsed.sections
    assert [u.text for u in overview.units] == ["IC1"]
    assert level.path == ("IC1",)  # "<abbr>IC</abbr>1" reads as written
    units = [(u.kind, u.text, u.label) for u in level.units if u.kind != "heading"]
    assert units == [
        ("label", "Entry level, with guidance.", ""),
        ("bullet", "Delivers assigned designs", "Entry level, with guidance."),
        ("label", "Strategy", ""),
        ("bullet", "Understands their product and its users in depth every single day",
         "Strategy"),
        ("bullet", "Knows the competitors and their solutions and the gaps between them",
         "Strategy"),
        ("row", "Execution: Uses our design system", ""),
    ]


def test_an_exported_html_table_with_bold_headers_and_a_caption_row():
    """Tables exported from document editors mark headers in bold, not <th>, and open with a
    caption row across every column; a short row after long ones is not part of them."""
    cell = ("Drives deals with regular help from leadership, mentors others on the team and "
            "brings new ideas and approaches to the commercial team")
    text = f"""# Sales levels

<table>
  <tr><td colspan="3"><strong>Career levels</strong></td></tr>
  <tr><td><strong>Job Level</strong></td><td><strong>Mid-market (P3)</strong></td>
      <td><strong>Enterprise (P4)</strong></td></tr>
  <tr><td><strong>Competency</strong></td><td>{cell}.<p>{cell}.</td><td>{cell}.</td></tr>
  <tr><td><strong>Quota Target</strong></td><td>$885K</td><td>$1.154M</td></tr>
</table>
"""
    overview, competency, quota = read_markdown(text, "sales.md").sections
    assert overview.units[0].text == "Career levels"
    assert competency.path == ("Competency",) and quota.path == ("Quota Target",)
    assert [u.text for u in competency.units if u.kind == "row"][1] == \
        f"Enterprise (P4): {cell}."
    # the row header reads as itself, each value under its column's header
    assert [u.text for u in quota.units if u.kind == "row"] == [
        "Quota Target; Mid-market (P3): $885K; Enterprise (P4): $1.154M"]


def test_a_list_item_left_open_ends_where_the_next_begins():
    # hand-written HTML leaves `<li>` open; a browser shows one bullet per item, in a list and
    # in a table cell alike (html.parser nested the rest inside it: one long bullet)
    text = """# Role

<ul>
<li>Writes code
<li>Reviews code</li>
<li>Ships code</li>
</ul>

<table>
  <thead><tr><th>Level</th><th>Teamwork</th></tr></thead>
  <tbody><tr><th>M3</th><td><ul>
    <li>Builds teams by implementing team processes and creating opportunities to connect.</li>
    <li>Ensures team members are happy and engaged, as measured by impact reviews.
    <li>Resolves interpersonal conflicts between teammates and partners quickly and fairly.</li>
    <li>Balances product needs with technical feasibility in every planning cycle.</li>
  </ul></td></tr></tbody>
</table>
"""
    sections = read_markdown(text, "levels.md").sections
    bullets = [u.text for s in sections for u in s.units if u.kind == "bullet"]
    assert bullets == [
        "Writes code", "Reviews code", "Ships code",
        "Builds teams by implementing team processes and creating opportunities to connect.",
        "Ensures team members are happy and engaged, as measured by impact reviews.",
        "Resolves interpersonal conflicts between teammates and partners quickly and fairly.",
        "Balances product needs with technical feasibility in every planning cycle."]
    assert [u.line for s in sections for u in s.units if u.text == "Ships code"] == [6]


def test_an_indented_list_read_as_paragraph_text_becomes_items():
    text = "# Role\n\nYou will get:\n\t- Health insurance\n\t- Sick leave\n"
    [section] = read_markdown(text, "perks.md").sections
    assert [(u.kind, u.text) for u in section.units] == [
        ("label", "You will get:"), ("bullet", "Health insurance"), ("bullet", "Sick leave")]


def test_soft_hyphens_and_unicode_hyphens_are_cleaned():
    text = "# Role\n\nWe value pro\u00adactive, self\u2010directed people.\n"
    [section] = read_markdown(text, "r.md").sections
    assert section.units[0].text == "We value proactive, self-directed people."


def test_broken_front_matter_is_a_warning_not_text():
    parsed = read_markdown("---\ntitle: [unclosed\n---\n# Role\n\nText.\n", "r.md")
    assert parsed.warnings and "front matter" in parsed.warnings[0]
    assert parsed.title == "Role"
