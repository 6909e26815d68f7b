"""Loading a corpus: any format, titles and metadata, unreadable files named, the rest loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.loading import (
    corpus_files,
    load_corpus,
    load_document,
    parse,
    read_bytes,
    read_text,
    scan_corpus,
    title_from_filename,
)
from assistant.types import CorpusError


def test_load_corpus_reports_a_non_utf8_file_and_loads_the_rest(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    (corpus / "good.md").write_text("# Pay\n- Base salary: $120,000\n", encoding="utf-8")
    (corpus / "notes.txt").write_text("Benefits\n- Twenty days of vacation\n", encoding="utf-8")
    result = load_corpus(corpus)
    assert sorted(d.source for d in result.documents) == ["good.md", "notes.txt"]
    assert list(result.errors) == ["bad.txt"]
    assert "bad.txt" in result.errors["bad.txt"]
    assert "UTF-8" in result.errors["bad.txt"]
    good = next(d for d in result.documents if d.source == "good.md")
    assert good.title == "Pay" and good.sections[0].path == ()
    with pytest.raises(CorpusError, match="bad.txt"):
        read_text(corpus / "bad.txt")


def test_utf8_bom_is_accepted_and_hash_is_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "bom.md"
    data = "\ufeff# Pay\n- Base salary: $120,000\n".encode()
    path.write_bytes(data)
    text, digest = read_text(path)
    assert text.startswith("# Pay")
    assert digest == hashlib.sha256(data).hexdigest()
    assert parse(text, "bom.md", ".md")[0].units[0].text == "Base salary: $120,000"


def test_binary_file_is_rejected_with_its_name(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"abc\x00def")
    with pytest.raises(CorpusError, match="blob.txt"):
        read_text(path)


def test_corpus_files_skip_hidden_and_unknown_files(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("b.md", "a.txt", "sub/c.markdown", ".hidden.md", ".git/x.md", "img.png",
                 "notes.pdf", "role.docx", "page.html", "~$role.docx", "data.csv"):
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text("x", encoding="utf-8")
    assert [p.relative_to(corpus).as_posix() for p in corpus_files(corpus)] == [
        "a.txt", "b.md", "notes.pdf", "page.html", "role.docx", "sub/c.markdown"]


def test_missing_corpus_folder_is_a_corpus_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        corpus_files(tmp_path / "nowhere")


def test_load_corpus_only_loads_the_requested_sources(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n- one thing here\n", encoding="utf-8")
    (corpus / "b.md").write_text("# B\n- another thing\n", encoding="utf-8")
    result = load_corpus(corpus, only=["b.md"])
    assert [d.source for d in result.documents] == ["b.md"]


@pytest.mark.parametrize(("files", "title"), [
    # front matter wins; then a lone top-level heading; then the file name
    ({"r.md": "---\ntitle: Backend Engineer\n---\n# Something else\n\nText here.\n"},
     "Backend Engineer"),
    ({"r.md": "# Product Designer\n\nDesigners design.\n\n## Levels\n\n- IC1\n"},
     "Product Designer"),
    ({"data-analyst_role.md": "## Duties\n\n- Query data\n\n## Pay\n\n- Good\n"},
     "Data Analyst Role"),
    ({"support-engineer.txt": "Duties\n- Answer tickets\nPay\n- Good pay for all\n"},
     "Support Engineer"),
])
def test_every_document_has_a_title(tmp_path, files, title):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    [document] = load_corpus(corpus).documents
    assert document.title == title


def test_title_from_filename_keeps_acronyms():
    assert title_from_filename("sub/18f-product-manager.md") == "18f Product Manager"
    assert title_from_filename("QA_engineer.docx") == "QA Engineer"


def test_an_unknown_format_and_a_broken_file_are_named(tmp_path):
    with pytest.raises(CorpusError, match=r"notes\.rtf.*not read"):
        load_document(b"{\\rtf1}", "notes.rtf")
    with pytest.raises(CorpusError, match=r"broken\.docx: cannot be read as DOCX"):
        load_document(b"PK\x03\x04 not really a zip", "broken.docx")


def test_a_file_with_no_text_is_loaded_with_a_warning():
    document = load_document(b"   \n\n", "empty.md")
    assert document.sections == []
    assert document.warnings and "empty.md" in document.warnings[0]


# ---------------------------------------------------------------------------------------------
# symbolic links and oversized files: only files inside the corpus folder, within the size limit


def test_links_out_of_the_corpus_are_skipped_by_name_files_and_folders_alike(tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n- The admin password is hunter2\n", "utf-8")
    (outside / "folder").mkdir()
    (outside / "folder" / "more.md").write_text("# More\n- Private notes\n", "utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "role.md").write_text("# Role\n- Base salary: $120,000\n", "utf-8")
    (corpus / "secret.md").symlink_to(outside / "secret.md")
    (corpus / "linked-folder").symlink_to(outside / "folder", target_is_directory=True)
    (corpus / "up.md").symlink_to(Path("..") / "outside" / "secret.md")  # relative, still outside
    (corpus / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    (corpus / "self.md").symlink_to(corpus / "self.md")  # a loop

    with caplog.at_level("WARNING", logger="assistant.loading"):
        scan = scan_corpus(corpus)
    assert [source for source, _ in scan.files] == ["role.md"]
    assert set(scan.skipped) == {"secret.md", "linked-folder", "up.md", "dangling.md", "self.md"}
    for source in ("secret.md", "linked-folder", "up.md"):
        assert source in scan.skipped[source] and "outside the corpus" in scan.skipped[source]
        assert source in caplog.text
    assert "dangling.md" in scan.skipped["dangling.md"]
    # the same rule for every reader of the corpus
    assert [p.name for p in corpus_files(corpus)] == ["role.md"]
    loaded = load_corpus(corpus)
    assert [d.source for d in loaded.documents] == ["role.md"]
    assert not any("hunter2" in d.text or "Private" in d.text for d in loaded.documents)
    assert any("secret.md" in w for w in loaded.warnings)


def test_links_inside_the_corpus_are_followed_once(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "roles").mkdir(parents=True)
    (corpus / "roles" / "backend.md").write_text("# Backend\n- Writes services\n", "utf-8")
    (corpus / ".drafts").mkdir()
    (corpus / ".drafts" / "designer.md").write_text("# Designer\n- Draws screens\n", "utf-8")
    (corpus / "backend-again.md").symlink_to(corpus / "roles" / "backend.md")  # a duplicate
    (corpus / "alias").symlink_to(corpus / "roles", target_is_directory=True)  # the same folder
    (corpus / "roles" / "loop").symlink_to(corpus, target_is_directory=True)  # a cycle
    (corpus / "designer.md").symlink_to(Path(".drafts") / "designer.md")  # a hidden file, shown

    scan = scan_corpus(corpus)
    assert [source for source, _ in scan.files] == ["designer.md", "roles/backend.md"]
    assert scan.skipped == {}
    # a corpus folder that is itself a link works like the folder
    (tmp_path / "corpus-link").symlink_to(corpus, target_is_directory=True)
    assert [source for source, _ in scan_corpus(tmp_path / "corpus-link").files] == [
        "designer.md", "roles/backend.md"]


def test_files_over_the_size_limit_are_refused_by_name_and_the_rest_load(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "role.md").write_text("# Role\n- Base salary: $120,000\n", "utf-8")
    (corpus / "dump.txt").write_text("Log\n" + "- a line of an exported log\n" * 2000, "utf-8")
    size = (corpus / "dump.txt").stat().st_size

    scan = scan_corpus(corpus, max_file_bytes=10_000)
    assert [source for source, _ in scan.files] == ["role.md"]
    assert list(scan.skipped) == ["dump.txt"]
    assert "dump.txt" in scan.skipped["dump.txt"] and "max_file_bytes" in scan.skipped["dump.txt"]
    assert scan_corpus(corpus, max_file_bytes=size).skipped == {}  # the limit itself is allowed
    loaded = load_corpus(corpus, max_file_bytes=10_000)
    assert [d.source for d in loaded.documents] == ["role.md"]
    assert any("dump.txt" in w for w in loaded.warnings)
    # a file that grew past the limit after the scan is refused when read, not read whole
    with pytest.raises(CorpusError, match="dump.txt"):
        read_bytes(corpus / "dump.txt", limit=10_000)
