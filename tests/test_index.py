"""Index: incremental builds, atomic switch, one writer, missing index, client/server mode."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import SMALL_CORPUS, stop_process

from assistant.index import (
    IndexSnapshot,
    Records,
    Store,
    build_index,
    get_all,
    open_index,
    read_rows,
    require_current,
)
from assistant.settings import Settings
from assistant.types import CorpusError, IndexBusy, IndexMissing

BAD_BYTES = b"\xff\xfe\x00bad"
VENV_BIN = Path(sys.executable).parent


def chunk_rows(settings: Settings) -> Records:
    """Rows of the chunk collection of the build in service."""
    store = Store(settings)
    name = store.current()
    assert name is not None
    return read_rows(store.collections(name), vectors=())["chunks"]


def ids_by_source(rows: Records) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for id_, meta in zip(rows.ids, rows.metadatas, strict=True):
        out.setdefault(meta["source"], []).append(id_)
    return {k: sorted(v) for k, v in out.items()}


def builds_on_disk(settings: Settings) -> list[str]:
    root = settings.index_dir / "builds"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


# ---------------------------------------------------------------------------------------------
# incremental builds


@pytest.mark.slow
def test_role_index_is_built_and_a_rebuild_embeds_nothing(role_settings, role_index, no_model):
    assert not role_index.up_to_date
    assert role_index.files == 1 and role_index.chunks > 40 and role_index.embedded > 0
    assert role_index.errors == {}
    again = build_index(role_settings, embeddings_factory=no_model)
    assert again.up_to_date
    assert again.embedded == 0
    assert again.build == role_index.build
    assert again.chunks == role_index.chunks
    assert builds_on_disk(role_settings) == [role_index.build]


@pytest.mark.slow
def test_rebuild_of_an_unchanged_corpus_is_up_to_date(make_corpus, embeddings, no_model):
    settings = make_corpus()
    first = build_index(settings, embeddings_factory=lambda: embeddings)
    assert (first.up_to_date, first.files) == (False, 3)
    assert first.embedded > 0 and first.reused >= 0
    assert Store(settings).current() == first.build
    second = build_index(settings, embeddings_factory=no_model)
    assert second.up_to_date
    assert second.embedded == 0
    assert (second.build, second.chunks, second.files) == (first.build, first.chunks, 3)
    # different chunking settings are a different index
    other = build_index(settings.model_copy(update={"chunk_max_tokens": 40}),
                        embeddings_factory=lambda: embeddings)
    assert not other.up_to_date and other.build != first.build


@pytest.mark.slow
def test_opening_a_build_made_by_older_code_rebuilds_it(make_corpus, embeddings, monkeypatch):
    """After an upgrade the assistant never quietly serves an index the new code did not make."""
    import assistant.index as index_module
    from assistant.core import Assistant

    settings = make_corpus()
    monkeypatch.setattr(index_module, "_code_version", lambda: "older-code")
    old = build_index(settings, embeddings_factory=lambda: embeddings)
    monkeypatch.undo()
    # while another process holds the writer lock, the old build keeps answering
    with Store(settings).writer_lock():
        busy = Assistant.from_settings(settings, embeddings=embeddings)
        assert busy._ensure_state().snapshot.build == old.build
        reply = busy.ask("What is the base salary?")
        assert not reply.abstained and "120,000" in reply.answer
    bot = Assistant.from_settings(settings, embeddings=embeddings)
    served = bot._ensure_state().snapshot
    assert served.build != old.build
    assert not index_module.outdated(served.manifest, settings)
    assert Store(settings).current() == served.build
    # opening again with the same code changes nothing
    again = Assistant.from_settings(settings, embeddings=embeddings)
    assert again._ensure_state().snapshot.build == served.build


@pytest.mark.slow
def test_changing_one_file_reembeds_only_its_new_texts(make_corpus, small_files, embeddings,
                                                       recording):
    settings = make_corpus(small_files)
    first = build_index(settings, embeddings_factory=lambda: embeddings)
    before = ids_by_source(chunk_rows(settings))
    assert set(before) == {"pay.md", "benefits.txt", "travel.md"}

    path = settings.corpus_dir / "benefits.txt"
    path.write_text(path.read_text().replace("Twenty days", "Thirty days"), encoding="utf-8")
    second = build_index(settings, embeddings_factory=lambda: recording)

    assert not second.up_to_date and second.build != first.build
    rows = chunk_rows(settings)
    after = ids_by_source(rows)
    assert after["pay.md"] == before["pay.md"]
    assert after["travel.md"] == before["travel.md"]
    changed = set(after["benefits.txt"]) - set(before["benefits.txt"])
    assert changed
    assert len(after["benefits.txt"]) == len(before["benefits.txt"])
    texts = dict(zip(rows.ids, rows.documents, strict=True))
    assert all("Thirty days" in texts[c] for c in changed)
    assert not any("Twenty days" in t for t in rows.documents)
    # no duplicates, and only texts that did not exist before were embedded
    assert len(rows.ids) == len(set(rows.ids)) == second.chunks
    assert recording.documents and len(recording.documents) == second.embedded
    assert all("thirty" in t.lower() for t in recording.documents), recording.documents
    assert second.reused > second.embedded
    # the previous build is kept as a fallback, nothing older
    assert builds_on_disk(settings) == sorted([first.build, second.build])


@pytest.mark.slow
def test_removed_file_loses_its_chunks(make_corpus, embeddings, no_model):
    settings = make_corpus()
    first = build_index(settings, embeddings_factory=lambda: embeddings)
    before = ids_by_source(chunk_rows(settings))
    (settings.corpus_dir / "travel.md").unlink()
    second = build_index(settings, embeddings_factory=no_model)
    assert second.removed_sources == ["travel.md"]
    assert second.embedded == 0 and not second.up_to_date
    after = ids_by_source(chunk_rows(settings))
    assert set(after) == {"pay.md", "benefits.txt"}
    assert after == {k: v for k, v in before.items() if k != "travel.md"}
    snap = open_index(settings)
    assert all(m["source"] != "travel.md" for m in snap.unit_meta)
    assert "conference" not in snap.terms  # its vocabulary goes too
    third = build_index(settings, embeddings_factory=no_model)
    assert third.up_to_date and third.removed_sources == []
    assert third.build == second.build != first.build


@pytest.mark.slow
def test_unreadable_file_keeps_what_was_indexed_from_it(make_corpus, embeddings, no_model):
    settings = make_corpus()
    build_index(settings, embeddings_factory=lambda: embeddings)
    before = chunk_rows(settings)
    benefits = sorted(i for i, m in zip(before.ids, before.metadatas, strict=True)
                      if m["source"] == "benefits.txt")

    (settings.corpus_dir / "benefits.txt").write_bytes(BAD_BYTES)
    (settings.corpus_dir / "never.txt").write_bytes(BAD_BYTES)  # never indexed before
    report = build_index(settings, embeddings_factory=no_model)
    assert set(report.errors) == {"benefits.txt", "never.txt"}
    assert "benefits.txt" in report.errors["benefits.txt"]
    assert "UTF-8" in report.errors["benefits.txt"]
    assert ids_by_source(chunk_rows(settings))["benefits.txt"] == benefits

    # a real rebuild (another file changed) carries the unreadable file's rows over
    pay = settings.corpus_dir / "pay.md"
    pay.write_text(pay.read_text() + "- Relocation support: one month of rent\n", "utf-8")
    rebuilt = build_index(settings, embeddings_factory=lambda: embeddings)
    assert not rebuilt.up_to_date
    assert set(rebuilt.errors) == {"benefits.txt", "never.txt"}
    after = chunk_rows(settings)
    by_source = ids_by_source(after)
    assert by_source["benefits.txt"] == benefits
    assert "never.txt" not in by_source
    assert any("Relocation support" in d for d in after.documents)
    snap = open_index(settings)
    assert any(m["source"] == "benefits.txt" for m in snap.unit_meta)
    assert snap.unit_vectors.shape[0] == len(snap.unit_ids)


def test_corpus_without_readable_files_is_an_error(make_corpus, no_model):
    settings = make_corpus({"bad.txt": BAD_BYTES})
    with pytest.raises(CorpusError, match="nothing to index") as caught:
        build_index(settings, embeddings_factory=no_model)
    assert "bad.txt" in caught.value.message
    assert Store(settings).current() is None


def test_the_cycle_collector_is_off_during_a_build_and_restored_after(make_corpus, embeddings):
    """A build turns Python's cycle collector off (its rows live until it ends) and leaves it
    as it found it, a failed build too."""
    import gc

    seen: list[bool] = []

    def failing() -> object:
        seen.append(gc.isenabled())
        raise RuntimeError("the model is gone")

    def factory() -> object:
        seen.append(gc.isenabled())
        return embeddings

    settings = make_corpus()
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="the model is gone"):
        build_index(settings, embeddings_factory=failing)
    assert seen == [False] and gc.isenabled()
    build_index(settings, embeddings_factory=factory)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        build_index(settings, embeddings_factory=factory, force=True)
        assert not gc.isenabled()  # left off by its caller: left off
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------
# atomic switch and the writer lock


def handbook(copies: int) -> dict[str, str]:
    """Many files with the same text: big to write, but each text is embedded only once."""
    sections = {
        "Vacation": ["Twenty days of paid vacation each year", "Public holidays are free",
                     "Unused days carry over to March", "Vacation is booked in the HR tool",
                     "Sabbatical leave after five years", "Parental leave of sixteen weeks"],
        "Equipment": ["A laptop of your choice", "Two external monitors",
                      "A budget for a desk chair", "Headphones for calls",
                      "Phone costs are reimbursed", "Hardware is renewed every three years"],
        "Training": ["A yearly conference of your choice", "Books are reimbursed",
                     "Internal reading groups every week", "Paid certification exams",
                     "Mentoring by a senior scientist", "Time for research projects"],
    }
    lines = []
    for title, bullets in sections.items():
        lines += [f"# {title}", f"This part of the handbook describes {title.lower()}."]
        lines += [f"- {b}" for b in bullets] + [""]
    text = "\n".join(lines)
    return {f"handbook-{i:03d}.md": text for i in range(copies)}


BUILD_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from assistant.index import build_index
    from assistant.settings import Settings

    def no_model():
        raise SystemExit("the forced rebuild should reuse every embedding")

    settings = Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]))
    build_index(settings, embeddings_factory=no_model, force=True)
    print("finished", flush=True)
""")


@pytest.mark.slow
def test_interrupted_build_leaves_the_old_build_in_service(make_corpus, embeddings, no_model):
    from assistant.core import Assistant

    settings = make_corpus(handbook(100))
    old = build_index(settings, embeddings_factory=lambda: embeddings)
    builds = settings.index_dir / "builds"
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, str(settings.corpus_dir), str(settings.index_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        orphan = None
        while orphan is None and proc.poll() is None and time.monotonic() < deadline:
            # killed once Chroma has started writing the new build's database
            fresh = [p for p in builds.iterdir()
                     if p.name != old.build and (p / "chroma" / "chroma.sqlite3").exists()]
            if fresh:
                orphan = fresh[0]
                os.kill(proc.pid, signal.SIGKILL)
            else:
                time.sleep(0.005)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert orphan is not None, f"no new build folder appeared: {proc.stderr.read()}"
    assert proc.returncode == -signal.SIGKILL, (
        "the build finished before it could be interrupted; make the corpus bigger")

    # the pointer never moved, the half-built folder is there, the old build answers
    assert (settings.index_dir / "current").read_text().strip() == old.build
    assert Store(settings).current() == old.build
    assert orphan.is_dir()
    assert open_index(settings).build == old.build
    bot = Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)
    # a hundred copies of one handbook fit any question equally: asked unscoped, the assistant
    # asks which one is meant; scoped to one, it answers
    unscoped = bot.ask("How many days of paid vacation do I get?")
    assert unscoped.abstained and unscoped.reason == "ambiguous_role"
    reply = bot.ask("How many days of paid vacation do I get?", scope="handbook-007.md")
    assert not reply.abstained
    assert "Twenty days of paid vacation each year" in reply.answer
    assert {c.source for c in reply.contexts} == {"handbook-007.md"}

    # the next build (lock released by the dead process) removes the orphan
    report = build_index(settings, embeddings_factory=no_model)
    assert report.up_to_date and report.build == old.build
    assert builds_on_disk(settings) == [old.build]


LOCK_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from assistant.index import Store
    from assistant.settings import Settings

    store = Store(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])))
    with store.writer_lock():
        print("locked", flush=True)
        time.sleep(120)
""")


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    assert proc.stdout is not None
    # selectors (epoll), not select.select: select() refuses descriptors numbered over 1024,
    # which a long test session reaches (CI failed here with "filedescriptor out of range").
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
    return proc.stdout.readline().strip() if ready else ""


@pytest.mark.slow
def test_one_writer_at_a_time(make_corpus, embeddings, no_model):
    settings = make_corpus({"pay.md": "# Pay\n- Base salary: $120,000 per year\n"})
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_SCRIPT, str(settings.corpus_dir), str(settings.index_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc, 60)
        assert line == "locked", proc.stderr.read() if proc.poll() is not None else line
        started = time.monotonic()
        with pytest.raises(IndexBusy) as caught:
            build_index(settings, embeddings_factory=no_model)
        assert time.monotonic() - started < 10  # fails at once instead of waiting
        message = caught.value.message
        assert "Another process is building the index" in message
        assert "try again" in message
        assert Store(settings).current() is None
    finally:
        proc.kill()
        proc.wait()
    # the lock dies with its holder
    report = build_index(settings, embeddings_factory=lambda: embeddings)
    assert Store(settings).current() == report.build


def test_missing_index_says_how_to_build_it(tmp_path):
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    for call in (open_index, require_current):
        with pytest.raises(IndexMissing) as caught:
            call(settings)
        assert "`assistant index`" in caught.value.message
        assert str(settings.index_dir) in caught.value.message


def test_dangling_pointer_counts_as_missing(tmp_path):
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    settings.index_dir.mkdir()
    (settings.index_dir / "current").write_text("20200101-000000-abcdef")
    with pytest.raises(IndexMissing, match="assistant index"):
        open_index(settings)


# ---------------------------------------------------------------------------------------------
# client/server mode


@pytest.mark.slow
def test_build_and_ask_through_a_chroma_server(make_corpus, tmp_path, port, embeddings,
                                               no_model):
    from assistant.core import Assistant

    chroma = VENV_BIN / "chroma"
    assert chroma.exists(), "the chromadb wheel ships the `chroma` server binary"
    log = (tmp_path / "chroma.log").open("w")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "chroma.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "chroma server did not start"
            time.sleep(0.2)

        settings = make_corpus(chroma_host="127.0.0.1", chroma_port=port)
        with pytest.raises(IndexMissing, match=f"127.0.0.1:{port}"):
            require_current(settings)
        report = build_index(settings, embeddings_factory=lambda: embeddings)
        assert not report.up_to_date and report.chunks > 0
        assert not (settings.index_dir / "builds").exists()  # nothing stored locally
        again = build_index(settings, embeddings_factory=no_model)
        assert again.up_to_date and again.build == report.build

        bot = Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)
        reply = bot.ask("How big is the annual bonus?")
        assert not reply.abstained
        assert "up to 15% of base salary" in reply.answer
        assert reply.citations[0].source == "pay.md"
    finally:
        stop_process(server)
        log.close()


def test_late_chunking_reads_each_chunk_once_and_pools_its_units(make_corpus, recording,
                                                                  embeddings):
    """unit_vectors=late: the model reads chunk texts (and vocabulary words), not every bullet,
    clause and title; each unit's vector is pooled from its chunk's tokens."""
    import numpy as np

    from assistant.core import Assistant

    separate = make_corpus(name="separate")
    build_index(separate, embeddings_factory=lambda: embeddings)
    late = make_corpus(name="late", unit_vectors="late")
    report = build_index(late, embeddings_factory=lambda: recording)
    snapshot = open_index(late)
    read_whole = [t for t in recording.documents if " " in t.strip()]  # not single words
    assert len(read_whole) <= len(snapshot.chunk_order) + 2, read_whole  # ~one per chunk
    assert report.embedded == len(recording.documents)
    assert len(snapshot.unit_vectors) == len(open_index(separate).unit_vectors)
    norms = np.linalg.norm(snapshot.unit_vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)
    # pooled vectors differ from the units' own embeddings, but still point at their chunk
    bot = Assistant.from_settings(late, embeddings=embeddings, build_if_missing=False)
    reply = bot.ask("How big is the annual bonus?")
    assert "up to 15% of base salary" in reply.answer


# ---------------------------------------------------------------------------------------------
# refused files and what a killed build leaves behind


@pytest.mark.slow
def test_links_out_of_the_corpus_and_oversized_files_are_refused_by_name(make_corpus, tmp_path,
                                                                        embeddings, no_model):
    from typer.testing import CliRunner

    from assistant.cli import app

    settings = make_corpus(max_file_bytes=4_000)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "passwords.md").write_text("# Passwords\n- The admin password is hunter2\n")
    (settings.corpus_dir / "passwords.md").symlink_to(outside / "passwords.md")
    (settings.corpus_dir / "dump.txt").write_text("Log\n" + "- an exported log line, the same "
                                                  "one again and again, long enough\n" * 80)
    # a file indexed while small and grown past the limit since: it leaves the index
    first = build_index(settings.model_copy(update={"max_file_bytes": 10_000_000}),
                        embeddings_factory=lambda: embeddings)
    assert list(first.skipped) == ["passwords.md"]
    assert "dump.txt" in ids_by_source(chunk_rows(settings))
    report = build_index(settings, embeddings_factory=no_model)
    assert set(report.skipped) == {"passwords.md", "dump.txt"}
    assert "outside the corpus" in report.skipped["passwords.md"]
    assert "max_file_bytes" in report.skipped["dump.txt"]
    assert report.removed_sources == ["dump.txt"]
    assert set(ids_by_source(chunk_rows(settings))) == {"pay.md", "benefits.txt", "travel.md"}
    snap = open_index(settings)
    assert not any("hunter2" in c["text"] for c in snap.chunks.values())

    # the command says so on every run (exit code 1, as for a file that cannot be read)
    result = CliRunner().invoke(app, ["index", "--corpus-dir", str(settings.corpus_dir),
                                      "--index-dir", str(settings.index_dir)],
                                env={"ASSISTANT_MAX_FILE_BYTES": "4000", "COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "Index is up to date" in output
    assert "not indexed: passwords.md" in output and "not indexed: dump.txt" in output


def test_later_builds_clean_what_a_killed_build_left_behind(make_corpus, embeddings, no_model):
    settings = make_corpus({"pay.md": "# Pay\n- Base salary: $120,000 per year\n"})
    first = build_index(settings, embeddings_factory=lambda: embeddings)
    index = settings.index_dir
    # killed between writing a pointer's temp file and the rename; and during a build
    planted = [index / ".current.4242.tmp", index / ".previous.4243.tmp"]
    for path in planted:
        path.write_text("20200101-000000-dead00")
    half = index / "builds" / "20200101-000000-dead00" / "chroma"
    half.mkdir(parents=True)
    (half / "chroma.sqlite3").write_bytes(b"partial")
    unrelated = index / "notes.tmp"  # not ours: left alone
    unrelated.write_text("kept")

    again = build_index(settings, embeddings_factory=no_model)
    assert again.up_to_date and again.build == first.build
    assert not any(path.exists() for path in planted)
    assert builds_on_disk(settings) == [first.build]
    assert unrelated.read_text() == "kept"
    assert (index / "current").read_text().strip() == first.build
    assert sorted(p.name for p in index.iterdir()) == [".lock", "builds", "current", "notes.tmp"]


# ---------------------------------------------------------------------------------------------
# the start-up snapshot


def same_snapshot(a: IndexSnapshot, b: IndexSnapshot) -> None:
    for name in ("build", "chunks", "chunk_order", "unit_ids", "unit_texts", "unit_meta",
                 "phrase_chunks", "terms", "manifest"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("unit_vectors", "phrase_vectors", "term_vectors"):
        assert getattr(a, name).shape == getattr(b, name).shape, name
        assert np.allclose(getattr(a, name), getattr(b, name), atol=1e-6), name


def test_stored_rows_give_back_every_unit_text_inside_its_chunk_or_not():
    """Units are stored inside their chunk's row, a text that is part of the chunk's text as
    where it is; reading the rows back gives every unit as it was."""
    from assistant.index import ROW, UNITS, _expand_units, _layout, _row_records

    chunk = {"source": "pay.md", "section": "Pay", "kind": "section", "order": 0,
             "chunk_id": "c1", "content_hash": "h"}
    texts = ["Salary 10 to 20", "10 to 20", "Pay", "Not in the chunk's text", ""]
    units = Records()
    for k, text in enumerate(texts):
        units.add(f"c1-u{k:03d}", text, {"chunk_id": "c1", "source": "pay.md",
                                         "chunk_kind": "section", "depth": 0, "links": "",
                                         "section": "Pay", "kind": "bullet", "label": "",
                                         "line": 3, "order": k, "content_hash": f"x{k}"})
        units.embeddings.append(np.full(2, k, dtype=np.float32))
    rows = {"chunks": Records(["c1"], ["Pay\n- Salary 10 to 20"], [chunk], [np.ones(2)]),
            "units": units, "terms": Records(["salary"], ["salary"], [{"content_hash": "s"}],
                                            [np.ones(2)])}
    layout = _layout(rows)
    stored = _row_records([("c1", layout["chunks"].metadatas[0][ROW])])
    kept = [unit[1] for unit in json.loads(layout["chunks"].metadatas[0][ROW])[UNITS]]
    assert kept == [[6, 21], [13, 21], [0, 3], "Not in the chunk's text", ""]
    back = _expand_units(stored)
    assert (back.ids, back.documents, back.metadatas) == (units.ids, units.documents,
                                                          units.metadatas)
    assert stored.documents == ["Pay\n- Salary 10 to 20"] and stored.metadatas == [chunk]


@pytest.mark.slow
def test_a_server_starts_from_the_builds_snapshot_which_matches_chroma(make_corpus, embeddings):
    settings = make_corpus({**SMALL_CORPUS, "long.md": (
        "# Duties\n- Design, build and maintain the data pipelines that feed every model, "
        "review the code of the team, and mentor the junior engineers who join it\n")})
    report = build_index(settings, embeddings_factory=lambda: embeddings)
    store = Store(settings)
    folder = store.snapshot_dir(report.build)
    assert (folder / "rows.txt").is_file() and (folder / "vectors.npz").is_file()
    from_files = open_index(settings)
    assert len(from_files.phrase_chunks) > 0  # the long bullet's clauses are in it

    shutil.rmtree(folder)  # without it, start-up reads Chroma, and keeps the snapshot again
    from_chroma = open_index(settings)
    same_snapshot(from_files, from_chroma)
    assert (folder / "rows.txt").is_file()
    same_snapshot(open_index(settings), from_chroma)

    rows = (folder / "rows.txt").read_text(encoding="utf-8")
    for cut in (rows[:len(rows) // 2], rows[:rows.rindex("\n")]):  # cut short, mid-row or not
        (folder / "rows.txt").write_text(cut, encoding="utf-8")
        same_snapshot(open_index(settings), from_chroma)  # Chroma is read, the snapshot kept
        assert (folder / "rows.txt").read_text(encoding="utf-8") == rows
    (folder / "vectors.npz").write_bytes(b"not an array file")
    same_snapshot(open_index(settings), from_chroma)


@pytest.mark.slow
def test_files_read_in_worker_processes_give_the_same_index(make_corpus, embeddings):
    files = {**SMALL_CORPUS, "broken.pdf": BAD_BYTES,
             **{f"role-{i}.md": f"# Role {i}\n## Pay\n- Salary band {i}\n- Paid leave\n"
                for i in range(6)}}
    here = make_corpus(files, name="here", index_workers=1)
    workers = make_corpus(files, name="workers", index_workers=2, index_parallel_files=1)
    a = build_index(here, embeddings_factory=lambda: embeddings)
    b = build_index(workers, embeddings_factory=lambda: embeddings)
    assert set(b.errors) == {"broken.pdf"} and "broken.pdf" in b.errors["broken.pdf"]
    assert (a.errors, a.chunks, a.embedded) == (b.errors, b.chunks, b.embedded)
    one, two = open_index(here), open_index(workers)
    two.build = one.build
    same_snapshot(one, two)


@pytest.mark.slow
def test_a_unit_text_repeated_across_roles_is_stored_once(make_corpus, embeddings):
    bullet = "- Twenty five days of paid leave every year"
    settings = make_corpus({f"role-{i}.md": f"# Role {i}\n## Benefits\n{bullet}\n- Bonus {i}\n"
                            for i in range(4)})
    report = build_index(settings, embeddings_factory=lambda: embeddings)
    snapshot = open_index(settings)
    leave = [m["content_hash"] for t, m in zip(snapshot.unit_texts, snapshot.unit_meta,
                                               strict=True) if t.startswith("Twenty five")]
    assert len(leave) == 4 and len(set(leave)) == 1  # a unit of each role, one content
    # in memory too, one vector for the four: a question scores each distinct vector once
    rows = {int(snapshot.unit_rows[i]) for i, t in enumerate(snapshot.unit_texts)
            if t.startswith("Twenty five")}
    hashes = {m["content_hash"] for m in snapshot.unit_meta}
    assert len(rows) == 1 and len(snapshot.vectors) == len(hashes) < len(snapshot.unit_ids)
    collections = Store(settings).collections(report.build)
    units = read_rows(collections)["units"]
    stored = get_all(collections["units"])
    # one vector row per distinct content, none for the other three
    assert sorted(stored.ids) == sorted({m["content_hash"] for m in units.metadatas})
    assert len(stored.ids) < len(units.ids) - 2


@pytest.mark.slow
def test_a_build_stored_by_another_version_is_rebuilt_not_misread(make_corpus, embeddings,
                                                                   monkeypatch):
    """An upgrade that changes how builds are stored: the old build is refused by name (its
    units read with the new reader came back empty, silently) and a server starting on it
    builds a new one before it answers."""
    import assistant.index as index_module
    from assistant.core import Assistant
    from assistant.types import IndexOutdated

    settings = make_corpus()
    current = index_module.INDEX_FORMAT
    monkeypatch.setattr(index_module, "INDEX_FORMAT", current - 1)
    old = build_index(settings, embeddings_factory=lambda: embeddings)
    monkeypatch.setattr(index_module, "INDEX_FORMAT", current)
    with pytest.raises(IndexOutdated, match=f"index format {current - 1}; this version reads"):
        open_index(settings)
    with pytest.raises(IndexOutdated):
        Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)
    bot = Assistant.from_settings(settings, embeddings=embeddings)
    assert Store(settings).current() != old.build
    snapshot = open_index(settings)
    assert snapshot.manifest["format"] == current and snapshot.unit_ids
    assert "$120,000" in bot.ask("What is the base salary?").answer


@pytest.mark.slow
def test_chunks_with_one_vector_share_a_row_and_each_is_found_in_its_scope(make_corpus,
                                                                            embeddings):
    """A section repeated word for word across postings is one Chroma row (identical vectors
    cut themselves off in the HNSW graph), and still a chunk of every posting: found when
    scoped to any of them, scored alike unscoped, and kept when the posting whose row held it
    is removed."""
    from assistant.core import Assistant
    from assistant.index import COPY_OF
    from assistant.retrieval import HybridRetriever

    shared = "## Benefits\n- Twenty five days of paid leave every year\n- A yearly training budget\n"
    files = {f"role-{i}.md": f"# Role {i}\n## Duties\n- Run experiment {i} on line {i}\n{shared}"
             for i in range(3)}
    settings = make_corpus(files)
    report = build_index(settings, embeddings_factory=lambda: embeddings)
    collections = Store(settings).collections(report.build)
    stored = collections["chunks"].get(include=["metadatas"])
    rows = chunk_rows(settings)
    assert report.chunks == len(rows.ids) > len(stored["ids"])
    assert sorted(ids_by_source(rows)) == sorted(files)
    lists = [m["source"] for m in stored["metadatas"] if len(m["source"]) > 1]
    assert lists == [sorted(files)]  # the benefits section, held once for the three roles
    snapshot = open_index(settings)
    copies = [c for c, m in snapshot.chunks.items() if COPY_OF in m]
    assert len(copies) == 2

    shutil.rmtree(Store(settings).snapshot_dir(report.build))  # read back from Chroma alike
    same_snapshot(snapshot, open_index(settings))

    bot = Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)
    question = "how much paid leave?"
    for source in files:
        top = bot.retrieve(question, k=1, scope=source)[0]
        assert (top.source, top.section) == (source, f"Role {source[5]} > Benefits")
    # Chroma's own order (the naive baseline's): one row found stands for all three chunks
    dense = HybridRetriever(snapshot=snapshot, embeddings=embeddings, k=3,
                            settings=settings.model_copy(update={"retrieval": "dense"}))
    vector = dense.embed(question)
    found = dense.search(question, vector, 3)
    assert sorted(d.metadata["source"] for d in found) == sorted(files)
    assert len({d.metadata["section"].split(" > ")[-1] for d in found}) == 1
    assert len({d.metadata["score"] for d in found}) == 1
    for source in files:
        assert [d.metadata["source"] for d in dense.search(question, vector, 3, {source})
                ][:1] == [source]

    holder = next(m["source"] for c, m in snapshot.chunks.items()
                  if c not in copies and m["section"].endswith("Benefits"))
    (settings.corpus_dir / holder).unlink()
    build_index(settings, embeddings_factory=lambda: embeddings)
    bot = Assistant.from_settings(settings, embeddings=embeddings, build_if_missing=False)
    for source in sorted(set(files) - {holder}):
        top = bot.retrieve(question, k=1, scope=source)[0]
        assert top.source == source and top.section.endswith("Benefits")


@pytest.mark.slow
def test_the_chunk_search_setting_is_written_with_a_build_and_a_change_rebuilds(
        make_corpus, embeddings, no_model):
    settings = make_corpus(chunk_search_ef=123)
    report = build_index(settings, embeddings_factory=lambda: embeddings)
    chunks = Store(settings).collections(report.build)["chunks"]
    assert chunks.configuration["hnsw"]["ef_search"] == 123
    changed = settings.model_copy(update={"chunk_search_ef": 321})
    again = build_index(changed, embeddings_factory=no_model)  # every vector is reused
    assert not again.up_to_date and again.build != report.build and again.embedded == 0
    chunks = Store(changed).collections(again.build)["chunks"]
    assert chunks.configuration["hnsw"]["ef_search"] == 321
