"""PDF, Word and HTML role documents, generated as real files; broken ones named, not fatal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from assistant.chunking import render_unit
from assistant.loading import load_corpus, load_document
from assistant.types import CorpusError, Section

LONG = ("Build dashboards for the sales team and keep them accurate over time as the business "
        "grows and changes quickly.")


def pdf_bytes(pages: list[list[tuple[str, str]]], title: str = "Data Analyst",
              password: str | None = None) -> bytes:
    """A PDF whose pages hold ("h1" | "h2" | "p" | "li", text) blocks; an empty page has none."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for blocks in pages:
        pdf.add_page()
        if not blocks:  # a page without a text layer: only a drawing
            pdf.rect(20, 20, 100, 60, style="F")
        for kind, text in blocks:
            size, style = {"h1": (20, "B"), "h2": (15, "B"), "p": (11, ""), "li": (11, "")}[kind]
            pdf.set_font("Helvetica", style, size)
            line = f"- {text}" if kind == "li" else text
            pdf.multi_cell(0, 10 if kind.startswith("h") else 6, line, new_x="LMARGIN",
                           new_y="NEXT")
    data = bytes(pdf.output())
    if password is None:
        return data
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def by_path(sections: list[Section]) -> dict[tuple[str, ...], Section]:
    return {s.path: s for s in sections}


def test_pdf_headings_items_and_pages():
    data = pdf_bytes([
        [("h1", "Data Analyst"), ("p", "Data Analysts turn raw data into decisions for the "
                                       "teams they support, every single day of the week."),
         ("h2", "Responsibilities"), ("li", LONG), ("li", "Write SQL queries")],
        [("h2", "Benefits"), ("li", "25 days of paid leave")],
    ])
    document = load_document(data, "analyst.pdf")
    assert document.title == "Data Analyst"
    assert document.locator == "page"
    sections = by_path(document.sections)
    assert set(sections) == {(), ("Responsibilities",), ("Benefits",)}
    duties = [(u.kind, u.text, u.line) for u in sections[("Responsibilities",)].units]
    assert duties == [("heading", "Responsibilities", 1), ("bullet", LONG, 1),  # wrap joined
                      ("bullet", "Write SQL queries", 1)]
    assert [(u.text, u.line) for u in sections[("Benefits",)].units if u.kind == "bullet"] == [
        ("25 days of paid leave", 2)]


def test_pdf_page_without_text_is_a_warning_naming_the_file():
    data = pdf_bytes([[("h1", "Data Analyst"), ("li", "Write SQL queries")], []])
    document = load_document(data, "scan.pdf")
    assert any("scan.pdf" in w and "page 2" in w for w in document.warnings)
    assert any(u.text == "Write SQL queries" for s in document.sections for u in s.units)


def test_pdf_with_no_text_at_all_loads_empty_with_one_warning():
    document = load_document(pdf_bytes([[], []]), "scanned.pdf")
    assert document.sections == []
    assert len(document.warnings) == 1 and "scanned.pdf" in document.warnings[0]


def test_encrypted_and_corrupt_pdfs_are_named():
    with pytest.raises(CorpusError, match=r"locked\.pdf.*password"):
        load_document(pdf_bytes([[("h1", "Secret"), ("p", "Hidden text.")]], password="s3cret"),
                      "locked.pdf")
    with pytest.raises(CorpusError, match=r"garbage\.pdf: cannot be read as PDF"):
        load_document(b"%PDF-1.7\n this is not a real pdf at all", "garbage.pdf")


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Product Designer"
    document.add_paragraph("Product Designer", style="Title")
    document.add_paragraph("Designers shape how customers use the product. Sr. designers "
                           "lead reviews.")
    document.add_heading("Responsibilities", level=1)
    document.add_paragraph("Run user research", style="List Bullet")
    document.add_paragraph("Tools", style="List Bullet")
    document.add_paragraph("Figma", style="List Bullet 2")
    document.add_heading("Levels", level=1)
    document.add_heading("Senior", level=2)
    bold = document.add_paragraph().add_run("Requirements")
    bold.bold = True
    document.add_paragraph("5 years of product design", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for r, (level, band) in enumerate([("Level", "Salary band"), ("Senior", "$120k-$150k"),
                                       ("Staff", "$150k-$180k")]):
        table.rows[r].cells[0].text = level
        table.rows[r].cells[1].text = band
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_styles_give_title_headings_lists_and_tables():
    document = load_document(docx_bytes(), "designer.docx")
    assert document.title == "Product Designer"
    sections = by_path(document.sections)
    assert [u.text for u in sections[()].units] == [
        "Designers shape how customers use the product.", "Sr. designers lead reviews."]
    duties = sections[("Responsibilities",)].units
    assert [(u.kind, u.text, u.label) for u in duties[1:]] == [
        ("bullet", "Run user research", ""), ("label", "Tools", ""),
        ("bullet", "Figma", "Tools")]
    requirements = sections[("Levels", "Senior", "Requirements")]
    assert [render_unit(u) for u in requirements.units[1:]] == [
        "- 5 years of product design",
        "- Level: Senior; Salary band: $120k-$150k",
        "- Level: Staff; Salary band: $150k-$180k"]


HTML = """<!doctype html>
<html><head><title>Support Engineer | Acme Careers</title>
<meta name="description" content="Support at Acme"><style>p {color: red}</style></head>
<body><nav><a href="/">Home</a> Jobs</nav>
<main><h1>Support Engineer</h1>
<p>Help customers <a href="/docs">succeed</a>.<br>Every day.</p>
<h2>What you will do</h2>
<ul><li>Answer tickets</li><li>Escalations<ul><li>Tier 2</li></ul></li></ul>
<h2>Perks</h2><p>You get:</p><ul><li>Remote work</li></ul>
<table><tr><th>Region</th><th>Hours</th></tr><tr><td>EMEA</td><td>9-5 CET</td></tr></table>
<dl><dt>Location</dt><dd>Anywhere in Europe</dd></dl>
<script>alert("x")</script></main>
<footer>Copyright Acme</footer></body></html>
"""


def test_html_main_content_with_structure_and_no_boilerplate():
    document = load_document(HTML.encode(), "support.html")
    assert document.title == "Support Engineer"
    assert document.metadata["description"] == "Support at Acme"
    sections = by_path(document.sections)
    assert [u.text for u in sections[()].units if u.kind == "sentence"] == [
        "Help customers succeed.", "Every day."]
    assert sections[()].units[0].links == ("/docs",)
    work = sections[("What you will do",)].units
    assert [(u.kind, u.text, u.label) for u in work[1:]] == [
        ("bullet", "Answer tickets", ""), ("label", "Escalations", ""),
        ("bullet", "Tier 2", "Escalations")]
    perks = [(u.kind, u.text) for u in sections[("Perks",)].units[1:]]
    assert perks == [("label", "You get:"), ("bullet", "Remote work"),
                     ("row", "Region: EMEA; Hours: 9-5 CET"),
                     ("bullet", "Location: Anywhere in Europe")]
    everything = " ".join(u.text for s in document.sections for u in s.units)
    for boilerplate in ("Home", "Copyright", "alert", "color"):
        assert boilerplate not in everything
    # units point at their line in the file
    assert sections[("Perks",)].units[0].line == HTML.splitlines().index(
        next(line for line in HTML.splitlines() if "<h2>Perks" in line)) + 1


def test_a_corpus_of_every_format_loads_and_names_what_it_cannot_read(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "analyst.pdf").write_bytes(pdf_bytes([[("h1", "Data Analyst"),
                                                     ("li", "Write SQL queries")]]))
    (corpus / "designer.docx").write_bytes(docx_bytes())
    (corpus / "support.html").write_text(HTML, encoding="utf-8")
    (corpus / "backend.md").write_text("# Backend Engineer\n\n- Write Go\n", encoding="utf-8")
    (corpus / "notes.txt").write_text("Benefits\n- Twenty days of vacation\n", encoding="utf-8")
    (corpus / "locked.pdf").write_bytes(pdf_bytes([[("p", "Secret.")]], password="pw"))
    (corpus / "broken.docx").write_bytes(b"PK\x03\x04 truncated")
    (corpus / "scan.pdf").write_bytes(pdf_bytes([[]], title=""))
    result = load_corpus(corpus)
    assert sorted(d.title for d in result.documents) == [
        "Backend Engineer", "Data Analyst", "Notes", "Product Designer", "Scan",
        "Support Engineer"]
    assert sorted(result.errors) == ["broken.docx", "locked.pdf"]
    assert all(name in message for name, message in result.errors.items())
    assert any("scan.pdf" in w for w in result.warnings)
