"""Chunks -> embeddings -> Chroma, built aside and switched atomically; one writer at a time.

Layout of a local index (index_dir):
    current                 the name of the build in service (replaced atomically)
    previous                the build before it, kept as a fallback (replaced atomically)
    builds/<name>/chroma/   one Chroma persistent store per build
    .lock                   held by the one process that is building
    .current.<pid>.tmp      a pointer being written; one a killed build left is removed
                            when the next build starts, as are half-written builds
With `chroma_host` set, builds are collections on a `chroma run` server and the pointer is the
metadata of a small pointer collection there. Every build records a manifest (settings and a
sha256 per source file), so rebuilding an unchanged corpus embeds nothing and returns at once,
and embeddings of unchanged chunks are copied from the build in service by content hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.chunking import chunk_recursive, chunk_sections, unit_embed_text, unit_phrases
from assistant.loading import load_document, read_bytes, scan_corpus
from assistant.settings import Settings
from assistant.text import content_words
from assistant.types import Chunk, CorpusError, IndexBusy, IndexMissing, IndexOutdated

log = logging.getLogger(__name__)

BATCH = 4000  # rows per write to Chroma (at most what the server takes)
READ_PAGE = 5000  # rows per read of a collection
PARTS = ("chunks", "units", "terms")  # the collections of one build (see `_write_parts`)
ROW_PARTS = ("chunks", "terms")  # those whose rows are one JSON value each (see `_layout`)
ROW, TEXT = "row", "\x1ftext"  # a row's one JSON metadata value, and its text within it
UNITS = "\x1funits"  # a chunk row's units in its JSON value: [id, text or [start, end], metadata]
SAME = "\x1fsame"  # a chunk row's copies in its JSON value: [id, row], chunks with its vector
COPY_OF = "same_vector_as"  # a copy's metadata once read: the chunk whose row holds it
_ABSENT = object()
_CHUNK_FIELDS = frozenset(("chunk_id", "source", "chunk_kind"))  # a unit row restores them
TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown")  # the naive baseline splits these as written
# Bump when what a build stores changes shape, so that old builds are rebuilt, not misread.
INDEX_FORMAT = 7  # 5: units live in their chunk's row, the units collection holds vectors;
# 6: a unit's text that is part of its chunk's is kept as where it is; 7: one chunk row per
# distinct chunk vector, its copies inside it, `source` the list of their documents


@dataclass
class BuildReport:
    """What a build did, for the CLI and tests."""

    build: str
    up_to_date: bool
    files: int
    chunks: int
    embedded: int  # texts sent to the embedding model in this build
    reused: int  # embeddings copied from the previous build
    removed_sources: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # files read in part (a page with no text)
    skipped: dict[str, str] = field(default_factory=dict)  # refused: outside the corpus, too large


@dataclass
class Records:
    """Rows of one collection."""

    ids: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[Any] = field(default_factory=list)  # float32 numpy rows

    def add(self, id_: str, document: str, metadata: dict[str, Any]) -> None:
        self.ids.append(id_)
        self.documents.append(document)
        self.metadatas.append(metadata)


# chromadb shares one client system per path and registers it before starting it: a second
# thread opening the same build meanwhile got a half-started one ("no attribute 'bindings'")
_OPENING = threading.Lock()
# Clients of snapshots nothing uses any more, closed at the next safe moment (`close_unused`).
# A finalizer may run inside the garbage collector, on a thread that holds _OPENING or one of
# Chroma's own locks at that moment: closing there deadlocked (seen in CI), so it only queues.
_UNUSED: list[Any] = []


@functools.lru_cache(maxsize=1 << 16)
def _sha(text: str) -> str:
    """A text's content hash. Remembered: a build asks for the same texts' hashes about ten
    times each (362,000 calls for 40,000 texts at 1,000 documents)."""
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# where builds live


class Store:
    """Chroma clients and the pointer to the build in service."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index_dir = settings.index_dir
        self._server = None

    # pointer -----------------------------------------------------------------------------
    def _pointer(self, key: str) -> str | None:
        """A build name the pointer records under `key` ("current" or "previous")."""
        if self.settings.chroma_host:
            try:
                pointer = self.server().get_collection(f"{self.settings.collection}-pointer")
            except Exception:  # noqa: BLE001 - chromadb raises several types for "not found"
                return None
            return (pointer.metadata or {}).get(key)
        try:
            return (self.index_dir / key).read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def current(self) -> str | None:
        name = self._pointer("current")
        if name and not self.settings.chroma_host and not (self.index_dir / "builds" / name).is_dir():
            return None
        return name

    def switch(self, name: str) -> None:
        """Put build `name` in service atomically."""
        if self.settings.chroma_host:
            pointer = self.server().get_or_create_collection(f"{self.settings.collection}-pointer")
            before = (pointer.metadata or {}).get("current")
            metadata: dict[str, Any] = {"current": name, "switched": time.time()}
            if before and before != name:
                metadata["previous"] = before
            elif (pointer.metadata or {}).get("previous"):
                metadata["previous"] = pointer.metadata["previous"]
            pointer.modify(metadata=metadata)
            return
        previous = self.current()
        if previous and previous != name:  # the fallback build garbage collection keeps
            self._write_pointer("previous", previous)
        self._write_pointer("current", name)

    def _write_pointer(self, key: str, name: str) -> None:
        """Replace a pointer file atomically: a temp file, fsynced, renamed over it."""
        tmp = self.index_dir / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(name)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.index_dir / key)

    def clean_temporary(self) -> None:
        """Remove pointer temp files a killed build left (call with the writer lock held)."""
        if self.settings.chroma_host:
            return
        for key in ("current", "previous"):
            for path in self.index_dir.glob(f".{key}.*.tmp"):
                log.info("removing %s, left by a build that did not finish", path.name)
                path.unlink(missing_ok=True)

    def previous(self) -> str | None:
        """The build that was in service before the current one (kept as a fallback)."""
        return self._pointer("previous")

    def version(self) -> str:
        """Cheap token that changes whenever a new build is switched in."""
        if self.settings.chroma_host:
            return self.current() or ""
        try:
            stat = (self.index_dir / "current").stat()
        except FileNotFoundError:
            return ""
        return f"{stat.st_mtime_ns}:{stat.st_ino}"

    # clients -----------------------------------------------------------------------------
    def server(self):  # type: ignore[no-untyped-def]
        if self._server is None:
            import chromadb

            self._server = chromadb.HttpClient(
                host=self.settings.chroma_host, port=self.settings.chroma_port,
                settings=chromadb.Settings(anonymized_telemetry=False),
            )
        return self._server

    def client(self, name: str):  # type: ignore[no-untyped-def]
        if self.settings.chroma_host:
            return self.server()
        import chromadb

        path = self.index_dir / "builds" / name / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        with _OPENING:
            return chromadb.PersistentClient(
                path=str(path), settings=chromadb.Settings(anonymized_telemetry=False)
            )

    def release(self, client: Any) -> None:
        """Close a client from `client()` once done with it. A local build's client holds its
        SQLite database and vector files open until closed (Chroma caches one per path and
        never lets go by itself): a long-running server that re-indexes would otherwise keep
        every build it ever served open, deleted builds' disk space included. The server
        client is shared by this store and stays open."""
        if client is not None and not self.settings.chroma_host:
            _close(client)

    def collection_name(self, name: str, part: str) -> str:
        if self.settings.chroma_host:
            return f"{self.settings.collection}-{name}-{part}"
        return f"{self.settings.collection}-{part}"

    def collections(self, name: str, client: Any = None):  # type: ignore[no-untyped-def]
        client = client if client is not None else self.client(name)
        return {part: client.get_collection(self.collection_name(name, part))
                for part in PARTS}

    def snapshot_dir(self, name: str) -> Path:
        """Where the build's rows are kept for a fast start (see `_save_snapshot`): inside the
        build's own folder, or, with a Chroma server, in this host's index folder."""
        if self.settings.chroma_host:
            return self.index_dir / "snapshots" / name
        return self.index_dir / "builds" / name / "snapshot"

    def drop(self, name: str) -> None:
        if self.settings.chroma_host:
            for part in PARTS:
                with contextlib.suppress(Exception):
                    self.server().delete_collection(self.collection_name(name, part))
            shutil.rmtree(self.snapshot_dir(name), ignore_errors=True)
        else:
            shutil.rmtree(self.index_dir / "builds" / name, ignore_errors=True)

    def builds(self) -> list[str]:
        if self.settings.chroma_host:
            prefix = f"{self.settings.collection}-"
            names = {c.name for c in self.server().list_collections()}
            return sorted({n[len(prefix):-len("-chunks")] for n in names
                           if n.startswith(prefix) and n.endswith("-chunks")})
        root = self.index_dir / "builds"
        return sorted(p.name for p in root.iterdir()) if root.is_dir() else []

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the one-writer lock, or fail at once with IndexBusy: a file lock on this host,
        and with a Chroma server also a lock there, for writers on other hosts."""
        with self._local_lock():
            if not self.settings.chroma_host:
                yield
                return
            with self._server_lock():
                yield

    @contextlib.contextmanager
    def _server_lock(self) -> Iterator[None]:
        """Creating a collection is atomic on the server: whoever creates the lock collection
        holds the lock. A lock older than `index_lock_stale_seconds` was left by a writer that
        died, and is broken."""
        import socket

        server = self.server()
        name = f"{self.settings.collection}-writer-lock"
        holder = {"holder": f"{socket.gethostname()}:{os.getpid()}", "since": time.time()}
        for attempt in (1, 2):
            try:
                server.create_collection(name, metadata=holder)
                break
            except Exception:  # noqa: BLE001 - chromadb's "already exists" differs by version
                try:
                    held = server.get_collection(name).metadata or {}
                except Exception:  # noqa: BLE001 - released in between: try again
                    continue
                age = time.time() - float(held.get("since", 0))
                if attempt == 1 and (age > self.settings.index_lock_stale_seconds
                                     or _dead_here(str(held.get("holder", "")))):
                    log.warning("breaking a writer lock held by %s for %.0f s",
                                held.get("holder"), age)
                    with contextlib.suppress(Exception):
                        server.delete_collection(name)
                    continue
                raise IndexBusy(
                    f"Another process ({held.get('holder', 'unknown')}) is building the index "
                    "on the Chroma server right now; try again when it has finished (the index "
                    "in service keeps answering meanwhile).") from None
        else:
            raise IndexBusy("The writer lock on the Chroma server could not be taken.")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                server.delete_collection(name)

    @contextlib.contextmanager
    def _local_lock(self) -> Iterator[None]:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.index_dir / ".lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBusy(
                    "Another process is building the index right now; try again when it has "
                    "finished (the index in service keeps answering meanwhile)."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()


def _dead_here(holder: str) -> bool:
    """Whether a lock's holder ("host:pid") was a process on this host that is gone (killed):
    its lock is broken at once instead of after `index_lock_stale_seconds`."""
    import socket

    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def read_rows(collections: dict[str, Any], vectors: tuple[str, ...] = PARTS
              ) -> dict[str, Records]:
    """A build's rows as the pipeline sees them (chunks, units, vocabulary words), from the
    collections `_write_parts` laid them out in; with their vectors for the parts named."""
    chunks = _expand_copies(get_all(collections["chunks"], "chunks" in vectors))
    units = _expand_units(chunks)
    if "units" in vectors:
        stored = get_all(collections["units"])
        by_hash = dict(zip(stored.ids, stored.embeddings, strict=True))
        units.embeddings = [by_hash[m["content_hash"]] for m in units.metadatas]
    return {"chunks": chunks, "units": units,
            "terms": get_all(collections["terms"], "terms" in vectors)}


def _expand_copies(chunks: Records) -> Records:
    """The chunk rows kept inside the row of a chunk with the same vector (see `_layout`),
    each after the row that held it, marked with its id (`COPY_OF`) and given its vector."""
    out = Records()
    for i, (id_, text, meta) in enumerate(zip(chunks.ids, chunks.documents, chunks.metadatas,
                                              strict=True)):
        copies = meta.pop(SAME, [])
        out.add(id_, text, meta)
        for copy_id, row in copies:
            copy_text = row.pop(TEXT)
            out.add(copy_id, copy_text, row | {COPY_OF: id_})
        if chunks.embeddings:
            out.embeddings.extend([chunks.embeddings[i]] * (1 + len(copies)))
    return out


def _expand_units(chunks: Records) -> Records:
    """The unit rows kept inside chunk rows (taken out of their metadata), with everything
    `_layout` left out of them restored."""
    units = Records()
    for chunk_id, chunk_text, meta in zip(chunks.ids, chunks.documents, chunks.metadatas,
                                          strict=True):
        for suffix, kept, stored in meta.pop(UNITS, []):
            text = kept if isinstance(kept, str) else chunk_text[kept[0]:kept[1]]
            unit_meta = {"chunk_id": chunk_id, "source": meta["source"], "chunk_kind": meta["kind"],
                         **_unit_defaults(meta), **stored}
            unit_meta.setdefault("content_hash", _sha(text))
            units.add(f"{chunk_id}-{suffix}", text, unit_meta)
    return units


def _unpacked(row: str) -> tuple[str, dict[str, Any]]:
    """A stored row's JSON value (see `_layout`) as its document and its metadata."""
    meta = json.loads(row)
    return meta.pop(TEXT), meta


def _row_records(lines: list[tuple[str, str]]) -> Records:
    """Rows from (id, JSON row value) pairs."""
    records = Records()
    for id_, row in lines:
        records.add(id_, *_unpacked(row))
    return records


def _first_by_hash(units: Records) -> dict[str, int]:
    """Each distinct unit content hash and the first unit row that has it, in row order."""
    first: dict[str, int] = {}
    for i, meta in enumerate(units.metadatas):
        first.setdefault(meta["content_hash"], i)
    return first


def _unit_defaults(chunk_meta: dict[str, Any]) -> dict[str, Any]:
    """A unit's metadata that is not stored when it has these values (see `_write_parts`)."""
    return {"section": chunk_meta["section"], "label": "", "depth": 0, "links": ""}


def get_all(collection, include_embeddings: bool = True) -> Records:  # type: ignore[no-untyped-def]
    """Every row of a collection, read a page at a time (one read of a large collection
    exceeds SQLite's limit on query variables: "too many SQL variables" at 1,000 documents)."""
    include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
    records = Records()
    offset = 0
    while True:
        data = collection.get(include=include, limit=READ_PAGE, offset=offset)
        records.ids.extend(data["ids"])
        documents = data["documents"] or [None] * len(data["ids"])
        metadatas = data["metadatas"] or [None] * len(data["ids"])
        for document, meta in zip(documents, metadatas, strict=True):
            meta = meta or {}  # a unit vector's row has none
            if ROW in meta:  # a row kept as one JSON value (see _layout)
                document, meta = _unpacked(meta[ROW])
            records.documents.append(document or "")
            records.metadatas.append(dict(meta))
        if include_embeddings:
            records.embeddings.extend(data["embeddings"])  # numpy rows, kept as they come
        if len(data["ids"]) < READ_PAGE:
            return records
        offset += READ_PAGE


# ---------------------------------------------------------------------------------------------
# building


def _code_version() -> str:
    """Hash of the modules that decide what is stored: changing them forces a rebuild."""
    import assistant.chunking
    import assistant.formats
    import assistant.loading
    import assistant.text

    digest = hashlib.sha256(str(INDEX_FORMAT).encode())
    files = [Path(m.__file__ or "") for m in (assistant.loading, assistant.chunking, assistant.text)]
    files += sorted(Path(assistant.formats.__file__ or "").parent.glob("*.py"))
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def outdated(manifest: dict[str, Any], settings: Settings) -> bool:
    """Was this build made by other code or with other storage settings than these?"""
    return (manifest.get("format"), manifest.get("code"), manifest.get("settings")) != (
        INDEX_FORMAT, _code_version(), settings.fingerprint())


def manifest_of(settings: Settings, files: dict[str, str]) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "code": _code_version(), "settings": settings.fingerprint(),
            "files": dict(sorted(files.items()))}


def build_index(
    settings: Settings,
    embeddings_factory: Callable[[], Any] | None = None,
    progress: bool = False,
    force: bool = False,
) -> BuildReport:
    """Bring the index in line with the corpus; see the module docstring for the guarantees."""
    started = time.perf_counter()
    store = Store(settings)
    with store.writer_lock(), _no_cyclic_gc():
        _clean_leftovers(store)
        report = _build(settings, store, embeddings_factory, progress, force)
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector off while a build runs. A build makes about a hundred thousand
    row dicts that live until it ends, and each full collection also walks every object of the
    loaded model: 0.4 s of a 1,000-document build's 10 s outside the model went to collections
    that freed nothing (measured with `gc.callbacks`). Reference counting still frees what the
    build drops; the collector runs again as soon as the build is over."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _clean_leftovers(store: Store) -> None:
    """What killed builds left: pointer temp files and half-written builds, removed before
    this one starts, so that a run of killed builds cannot pile them up (the caller holds the
    writer lock: no other build is being written)."""
    store.clean_temporary()
    _collect_garbage(store, store.current() or "", keep=store.previous())


def _read_manifest(store: Store, name: str | None
                   ) -> tuple[dict[str, Any] | None, Any, Any]:
    """The build's manifest, its collections and the client to release after reading them."""
    if name is None:
        return None, None, None
    client = None
    try:
        client = store.client(name)
        collections = store.collections(name, client)
        manifest = json.loads((collections["chunks"].metadata or {}).get("manifest", "null"))
        return manifest, collections, client
    except Exception as exc:  # noqa: BLE001 - a damaged build is rebuilt from scratch
        log.warning("build %s cannot be read (%s); rebuilding from scratch", name, exc)
        store.release(client)
        return None, None, None


def _build(
    settings: Settings,
    store: Store,
    embeddings_factory: Callable[[], Any] | None,
    progress: bool,
    force: bool,
) -> BuildReport:
    previous = store.current()
    old_manifest, old, old_client = _read_manifest(store, previous)
    try:
        return _build_from(settings, store, embeddings_factory, progress, force,
                           previous, old_manifest, old)
    finally:
        store.release(old_client)


def _build_from(  # noqa: PLR0913 - the build's inputs, split from _build to release a client
    settings: Settings, store: Store, embeddings_factory: Callable[[], Any] | None,
    progress: bool, force: bool, previous: str | None, old_manifest: dict[str, Any] | None,
    old: Any,
) -> BuildReport:
    old_files: dict[str, str] = (old_manifest or {}).get("files", {})
    old_failed: dict[str, list[str]] = (old_manifest or {}).get("failed", {})
    same_shape = bool(old_manifest) and not outdated(old_manifest or {}, settings)
    data: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    errors: dict[str, str] = {}
    scan = scan_corpus(settings.corpus_dir, settings.max_file_bytes)
    for source, path in scan.files:
        try:
            data[source], hashes[source] = read_bytes(path, settings.max_file_bytes)
        except CorpusError as exc:
            errors[source] = exc.message
            log.warning("%s", exc.message)
    seen = {**old_files, **{s: v[0] for s, v in old_failed.items()}}
    if not force and same_shape and previous and seen == hashes and not errors:
        chunk_count = int((old_manifest or {}).get("chunks", 0))  # Chroma's rows: distinct vectors
        _collect_garbage(store, previous, keep=store.previous())
        return BuildReport(previous, True, len(old_files), chunk_count, 0, 0,
                           errors={s: v[1] for s, v in old_failed.items()},
                           warnings=list((old_manifest or {}).get("warnings", [])),
                           skipped=scan.skipped)

    documents: dict[str, Prepared] = {}
    failed: dict[str, list[str]] = {}
    warnings: list[str] = []
    for source, prepared in prepare_all(data, hashes, settings).items():
        if isinstance(prepared, str):
            errors[source] = prepared
            failed[source] = [hashes[source], prepared]
            log.warning("%s", prepared)
            continue
        documents[source] = prepared
        warnings.extend(prepared.warnings)
        for warning in prepared.warnings:
            log.warning("%s", warning)
    # A file that exists but cannot be read keeps what was indexed from it before.
    kept = {s: old_files[s] for s in errors if same_shape and s in old_files}
    files = {s: d.sha256 for s, d in documents.items()}
    manifest = manifest_of(settings, {**files, **kept})
    manifest["failed"] = {s: v for s, v in failed.items() if s not in kept}
    manifest["warnings"] = warnings
    manifest["documents"] = {s: {"title": d.title, "metadata": d.metadata, "locator": d.locator}
                             for s, d in sorted(documents.items())}
    for source in kept:
        if source in (old_manifest or {}).get("documents", {}):
            manifest["documents"][source] = old_manifest["documents"][source]  # type: ignore[index]
    removed = sorted(set(old_files) - set(manifest["files"]))

    chunks = [chunk for document in documents.values() for chunk in document.chunks]
    if not chunks and not kept:
        raise CorpusError(
            f"No readable documents in {settings.corpus_dir}: nothing to index."
            + ("" if not errors else " " + " ".join(errors.values()))
        )

    rows = {part: Records() for part in PARTS}
    embed_texts: dict[str, list[str]] = {part: [] for part in rows}
    late = settings.unit_vectors == "late"
    # late chunking: unit rows whose vector is pooled from their chunk's forward pass
    spans: dict[int, tuple[Chunk, int, int]] = {}  # unit row -> (chunk, start, end)
    cursor: dict[str, int] = {}  # where the last unit of each chunk was found

    def add_unit(chunk: Chunk, id_: str, document: str, embed_text: str, **meta: Any) -> None:
        """One row of the units collection (bullets, their clauses, section titles)."""
        key = embed_text
        if late:
            where = _locate(chunk.embed_text, document, cursor.get(chunk.id, 0)
                            if meta.get("kind") != "title" else 0)
            if where is not None:
                spans[len(rows["units"].ids)] = (chunk, *where)
                key = f"late\x1f{chunk.embed_text}\x1f{where[0]}:{where[1]}"
                if meta.get("kind") not in ("title", "phrase"):
                    cursor[chunk.id] = where[0]
        rows["units"].add(id_, document, {"chunk_id": chunk.id, "source": chunk.source,
                                          "chunk_kind": chunk.kind, "depth": 0, "links": "",
                                          **meta, "content_hash": _sha(key)})
        embed_texts["units"].append(key)

    for chunk in chunks:
        meta = chunk.metadata() | {"content_hash": _sha(chunk.embed_text)}
        rows["chunks"].add(chunk.id, chunk.text, meta)
        embed_texts["chunks"].append(chunk.embed_text)
        for k, unit in enumerate(chunk.units):
            section, order = unit.section or chunk.section, chunk.order * 1000 + k
            embed = unit_embed_text(unit, chunk.section, chunk.title)
            add_unit(chunk, f"{chunk.id}-u{k:03d}", unit.text, embed,
                     section=section, kind=unit.kind, label=unit.label, line=unit.line, order=order,
                     depth=unit.depth, links=" ".join(unit.links))
            for j, phrase in enumerate(unit_phrases(unit)):  # retrieval only, never shown
                add_unit(chunk, f"{chunk.id}-u{k:03d}-p{j:02d}", phrase, phrase, section=section,
                         kind="phrase", label="", line=unit.line, order=order)
        # each section's own title, embedded alone: questions often paraphrase a heading
        titles = dict.fromkeys((u.section or chunk.section).split(" > ")[-1] for u in chunk.units
                               if (u.section or chunk.section) != chunk.title)
        for t, title in enumerate(titles):
            add_unit(chunk, f"{chunk.id}-t{t:02d}", title, title, section=chunk.section,
                     kind="title", label="", line=chunk.line_start,
                     order=chunk.order * 1000 + 900 + t)
    previous_rows: dict[str, Records] = {}
    if old is not None:  # read once: carried-over rows and the embedding cache both use it
        try:
            previous_rows = read_rows(old)
        except Exception as exc:  # noqa: BLE001 - an unreadable build just means re-embedding
            log.warning("the rows of build %s cannot be read (%s); embedding every text",
                        previous, exc)
            previous_rows = {}
    if kept:  # carry rows of unreadable files over unchanged
        for part in ("chunks", "units"):
            carried = previous_rows.get(part, Records())
            for i, meta in enumerate(carried.metadatas):
                if meta.get("source") in kept:
                    rows[part].add(carried.ids[i], carried.documents[i], meta)
                    rows[part].embeddings.append(carried.embeddings[i])
    vocabulary = sorted({w for doc in rows["chunks"].documents for w in content_words(doc)
                         if w.isalpha() and len(w) > 2})
    for word in vocabulary:
        rows["terms"].add(word, word, {"content_hash": _sha(word)})
        embed_texts["terms"].append(word)

    cache: dict[str, Any] = {}  # content hash -> float32 vector
    for records in previous_rows.values():
        for meta, vector in zip(records.metadatas, records.embeddings, strict=True):
            cache[meta.get("content_hash", "")] = vector
    late_keys = {embed_texts["units"][i] for i in spans}
    # texts go to the model shortest first: a batch is padded to its longest text, and batches
    # of alphabetically sorted texts (short titles beside long chunks) made the model do three
    # times the work of one sentence-transformers encode of the same texts (benchmarks/
    # bench_growth.py: 68 s against 23 s for the seed document)
    missing = sorted({t for part in rows for t in embed_texts[part]
                      if _sha(t) not in cache and t not in late_keys}, key=_by_length)
    passes = sorted({chunk.embed_text for i, (chunk, _, _) in spans.items()
                     if _sha(embed_texts["units"][i]) not in cache}, key=_by_length)
    model = None
    if passes:  # one forward pass per chunk text gives its units' vectors (and its own)
        model = embeddings_factory() if embeddings_factory else _default_embeddings(settings)
        wanted: dict[str, list[tuple[int, int]]] = {t: [] for t in passes}
        for chunk, start, end in spans.values():
            if chunk.embed_text in wanted:
                wanted[chunk.embed_text].append((start, end))
        for start in _progress(range(0, len(passes), 64), progress, len(passes)):
            batch = passes[start:start + 64]
            whole, parts = embed_spans(model, batch, [wanted[t] for t in batch])
            for text, vector, pooled in zip(batch, whole, parts, strict=True):
                cache[_sha(text)] = np.asarray(vector, dtype=np.float32)
                for (a, b), span_vector in zip(wanted[text], pooled, strict=True):
                    if span_vector is not None:
                        cache[_sha(f"late\x1f{text}\x1f{a}:{b}")] = np.asarray(
                            span_vector, dtype=np.float32)
        # a span the model cut off (beyond its window) is embedded on its own after all
        for i in spans:
            if _sha(embed_texts["units"][i]) not in cache:
                embed_texts["units"][i] = unit_text = rows["units"].documents[i]
                rows["units"].metadatas[i]["content_hash"] = _sha(unit_text)
                if _sha(unit_text) not in cache:
                    missing.append(unit_text)
        missing = sorted(set(missing) - {t for t in passes}, key=_by_length)
    if missing:
        model = model or (embeddings_factory() if embeddings_factory else
                          _default_embeddings(settings))
        for start in _progress(range(0, len(missing), 64), progress, len(missing)):
            batch = missing[start:start + 64]
            for text, vector in zip(batch, model.embed_documents(batch), strict=True):
                cache[_sha(text)] = np.asarray(vector, dtype=np.float32)
    missing = missing + passes  # what the model read in this build
    reused = sum(len(embed_texts[p]) for p in rows) - len(missing)
    for part in rows:
        rows[part].embeddings[:0] = [cache[_sha(t)] for t in embed_texts[part]]

    manifest["chunks"] = len(rows["chunks"].ids)
    name = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    try:
        layout = _layout(rows)
        _write(store, name, layout, manifest)
        _save_snapshot(store, name, layout, manifest)
        store.switch(name)
    except BaseException:
        store.drop(name)
        raise
    _collect_garbage(store, name, keep=previous)
    return BuildReport(name, False, len(manifest["files"]), len(rows["chunks"].ids), len(missing),
                       max(reused, 0), removed, errors, warnings=warnings, skipped=scan.skipped)


@dataclass
class Prepared:
    """What a build keeps of one corpus file once read and chunked."""

    title: str
    metadata: dict[str, str]
    locator: str
    warnings: list[str]
    sha256: str
    chunks: list[Chunk]


def prepare(source: str, data: bytes, sha256: str, settings: Settings) -> Prepared | str:
    """Read and chunk one file; a file that cannot be read gives the message naming it."""
    try:
        document = load_document(data, source, sha256)
    except CorpusError as exc:
        return exc.message
    if settings.chunking == "recursive":
        text = data.decode("utf-8-sig", "replace") \
            if Path(source).suffix.lower() in TEXT_SUFFIXES else document.text
        chunks = chunk_recursive(document, text, settings)
    else:
        chunks = chunk_sections(document, settings)
    return Prepared(document.title, document.metadata, document.locator, document.warnings,
                    document.sha256, chunks)


def worker_count(settings: Settings, files: int) -> int:
    """How many processes read `files` corpus files for a build (0: this one alone)."""
    if files < settings.index_parallel_files:
        return 0
    return min(settings.index_workers or os.cpu_count() or 1, files)


def _prepare_item(item: tuple[str, bytes, str, Settings]) -> Prepared | str:
    return prepare(*item)


def prepare_all(data: dict[str, bytes], hashes: dict[str, str], settings: Settings
                ) -> dict[str, Prepared | str]:
    """Every file read and chunked, in worker processes when there are many: reading is pure
    Python and held one core while the other waited (1,000 Markdown files: 5.1 s in this
    process, 3.4 s in two workers, their start-up included; the model's encode that follows
    keeps both cores busy by itself). The workers are spawned, not forked: the indexing
    process may hold the model's threads and Chroma's, and a forked child inherits their locks
    in whatever state they were."""
    items = [(source, raw, hashes[source], settings) for source, raw in data.items()]
    workers = worker_count(settings, len(items))
    if workers < 2:
        return {item[0]: _prepare_item(item) for item in items}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.map(_prepare_item, items, chunksize=max(1, len(items) // (workers * 8)))
        return {item[0]: result for item, result in zip(items, results, strict=True)}


def _by_length(text: str) -> tuple[int, str]:
    return len(text), text


def _locate(text: str, needle: str, start: int = 0) -> tuple[int, int] | None:
    """Where `needle` occurs in `text` (from `start`, else anywhere), as character offsets."""
    at = text.find(needle, start)
    if at < 0:
        at = text.find(needle)
    return (at, at + len(needle)) if at >= 0 and needle.strip() else None


def embed_spans(model: Any, texts: list[str], spans: list[list[tuple[int, int]]]
                ) -> tuple[list[list[float]], list[list[list[float] | None]]]:
    """The texts' vectors and their spans' (late chunking); a model without token access
    embeds the texts whole and leaves every span to be embedded on its own."""
    if hasattr(model, "embed_spans"):
        return model.embed_spans(texts, spans)  # type: ignore[no-any-return]
    return model.embed_documents(texts), [[None] * len(s) for s in spans]


def _progress(iterable: range, enabled: bool, total: int):  # type: ignore[no-untyped-def]
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=f"Embedding {total} new texts", unit="batch")


def _default_embeddings(settings: Settings):  # type: ignore[no-untyped-def]
    from assistant.embeddings import make_embeddings

    return make_embeddings(settings)


def _write(store: Store, name: str, layout: dict[str, Records], manifest: dict[str, Any]
           ) -> None:
    client = store.client(name)
    try:
        _write_parts(store, client, name, layout, manifest)
    finally:
        store.release(client)


def _layout(rows: dict[str, Records]) -> dict[str, Records]:
    """A build's rows as they are stored, in Chroma and in the start-up snapshot alike.

    Writing was most of indexing's cost beside the model (at 1,000 documents, 49 of 67 s, then
    23 of 97 s): Chroma inserts every vector into an HNSW graph, every document into a
    full-text index and every metadata key as a row of its own. Only chunk vectors are searched
    through Chroma (with the scope's `source` filter); everything else is loaded whole and
    scored in memory. So:
    - chunks: the vector, `source` (the filter) and the rest as one JSON value, the chunk's
      units (bullets, clauses, titles) inside it; no document, so no full-text index (a
      metadata byte costs too: a 3.5 kB row wrote in twice the time of a 100-byte one).
      Chunks with the same vector (a section postings repeat word for word) are one row, the
      others inside it, and `source` lists their documents: in Chroma's HNSW graph, a group
      of identical vectors fills its members' neighbour lists with each other and cuts itself
      off, and a search then missed true nearest chunks (a 1,000-document corpus has 1,919
      distinct vectors among 8,222 chunks; `benchmarks/ann_recall.py`);
    - units: one vector per distinct unit text, keyed by its content hash, no metadata (a
      corpus of templated postings repeats most of its bullets: 78,306 unit rows were 12,622
      vectors), in a graph built as cheaply as Chroma allows;
    - terms: one row per vocabulary word, its vector and one JSON value.
    At 1,000 documents this took writing from 23.5 s to about 4 s. Rows go in batches as large
    as the server takes (12,000 rows: 14.2 s -> 2.9 s), by `_write_parts`."""
    chunks = rows["chunks"]
    first = _first_by_hash(rows["units"])
    # rows read back from a build carry the copy marks `_expand_copies` gave them: they group
    # rows when no vectors were read (a replica writing its snapshot), are never stored
    if chunks.embeddings:
        keys: list[Any] = [np.asarray(v, dtype=np.float32).tobytes() for v in chunks.embeddings]
    else:
        keys = [meta.get(COPY_OF) or id_ for meta, id_ in zip(chunks.metadatas, chunks.ids,
                                                               strict=True)]
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    defaults = {id_: _unit_defaults(meta) for id_, meta in zip(chunks.ids, chunks.metadatas,
                                                                strict=True)}
    texts = dict(zip(chunks.ids, chunks.documents, strict=True))
    units: dict[str, list[list[Any]]] = {}
    for id_, text, meta in zip(rows["units"].ids, rows["units"].documents,
                               rows["units"].metadatas, strict=True):
        # stored compactly, the metadata bytes being most of a chunk row's write cost: the id
        # without its chunk's (every unit id starts with it), and none of what `read_rows`
        # restores (the chunk's fields, the defaults, a hash that is the text's own)
        chunk_id = meta["chunk_id"]
        usual = defaults[chunk_id]
        own = {k: v for k, v in meta.items()
               if k not in _CHUNK_FIELDS and usual.get(k, _ABSENT) != v}
        if own.get("content_hash") == _sha(text):
            del own["content_hash"]
        # most unit texts are part of the chunk's text (a bullet, a clause, a title) and are
        # kept as where they are in it (a 1,000-document corpus's rows: 15 MB instead of 18)
        at = texts[chunk_id].find(text) if text else -1
        kept = [at, at + len(text)] if at >= 0 else text
        units.setdefault(chunk_id, []).append([id_.removeprefix(f"{chunk_id}-"), kept, own])

    def row(i: int) -> dict[str, Any]:
        meta = {k: v for k, v in chunks.metadatas[i].items() if k != COPY_OF}
        return {**meta, TEXT: chunks.documents[i], UNITS: units.get(chunks.ids[i], [])}

    heads = [members[0] for members in groups.values()]
    return {
        "chunks": Records([chunks.ids[i] for i in heads], embeddings=[
            chunks.embeddings[i] for i in heads] if chunks.embeddings else [], metadatas=[
            {"source": sorted({chunks.metadatas[m]["source"] for m in members}),
             ROW: json.dumps(row(members[0]) | (
                 {SAME: [[chunks.ids[m], row(m)] for m in members[1:]]} if members[1:] else {}))}
            for members in groups.values()]),
        "units": Records(list(first), embeddings=[rows["units"].embeddings[i]
                                                  for i in first.values()]),
        "terms": Records(rows["terms"].ids, embeddings=rows["terms"].embeddings, metadatas=[
            {ROW: json.dumps({**meta, TEXT: text})} for text, meta in zip(
                rows["terms"].documents, rows["terms"].metadatas, strict=True)]),
    }


def _write_parts(store: Store, client: Any, name: str, layout: dict[str, Records],
                 manifest: dict[str, Any]) -> None:
    """Write a build's stored rows (`_layout`) to its three collections."""
    batch = max(1, min(BATCH, client.get_max_batch_size()))

    def write(part: str) -> None:
        records = layout[part]
        hnsw: dict[str, Any] = {"space": "cosine"}
        if part == "chunks":
            hnsw["ef_search"] = store.settings.chunk_search_ef
        else:
            hnsw |= {"ef_construction": 8, "max_neighbors": 4}
        metadata = {"manifest": json.dumps(manifest)} if part == "chunks" else None
        collection = client.create_collection(store.collection_name(name, part),
                                              configuration={"hnsw": hnsw}, metadata=metadata)
        for start in range(0, len(records.ids), batch):
            end = start + batch
            collection.add(ids=records.ids[start:end], embeddings=records.embeddings[start:end],
                           metadatas=records.metadatas[start:end] or None)

    for part in PARTS:  # one at a time: Chroma's bindings hold the GIL while they write
        write(part)


def _collect_garbage(store: Store, current: str, keep: str | None = None) -> None:
    """Remove builds that are neither in service nor the one before it (half-built ones too)."""
    for name in store.builds():
        if name not in (current, keep):
            log.info("removing old build %s", name)
            store.drop(name)
    _prune_snapshots(store, current, keep)


def _prune_snapshots(store: Store, current: str, keep: str | None = None) -> None:
    """With a Chroma server, each host keeps its own snapshots (see `_save_snapshot`): a
    replica that never builds removes those of builds it no longer serves when it opens one."""
    snapshots = store.index_dir / "snapshots"
    if store.settings.chroma_host and snapshots.is_dir():
        keep = keep if keep is not None else store.previous()
        for path in snapshots.iterdir():
            if path.name not in (current, keep):
                shutil.rmtree(path, ignore_errors=True)


def require_current(settings: Settings, store: Store | None = None) -> str:
    """The build in service, or IndexMissing with what to do about it."""
    name = (store or Store(settings)).current()
    if name is None:
        where = (f"Chroma at {settings.chroma_host}:{settings.chroma_port}"
                 if settings.chroma_host else str(settings.index_dir))
        raise IndexMissing(f"There is no index in {where} yet. Build it with `assistant index`.")
    return name


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class IndexSnapshot:
    """One build in service, loaded for retrieval: chunks, units and vocabulary in memory."""

    build: str
    client: Any
    chunk_collection: str
    chunks: dict[str, dict[str, Any]]  # chunk_id -> metadata + "text"
    chunk_order: list[str]  # chunk ids in corpus order
    unit_ids: list[str]
    unit_texts: list[str]
    unit_meta: list[dict[str, Any]]
    # each distinct unit and clause vector once, normalised (a corpus of postings repeats most
    # of its bullets: at 1,000 documents, 12,622 of 78,306), and the row of each unit and
    # clause in it: a question is scored against the distinct vectors only
    vectors: Any  # numpy (n_distinct, dim)
    unit_rows: Any  # numpy int64 (n_units,)
    phrase_chunks: list[str]  # the chunk each clause of a long bullet belongs to
    phrase_rows: Any  # numpy int64 (n_phrases,)
    terms: list[str]
    term_vectors: Any  # numpy (n_terms, dim), normalised
    manifest: dict[str, Any]

    @property
    def unit_vectors(self) -> Any:
        """Every unit's vector, a row each (a copy: for inspection, not for a question)."""
        return self.vectors[self.unit_rows]

    @property
    def phrase_vectors(self) -> Any:
        """Every clause's vector, a row each (a copy, as `unit_vectors`)."""
        return self.vectors[self.phrase_rows]


def _close(client: Any) -> None:
    """Close a local build's client (not while another thread opens one: see _OPENING)."""
    with _OPENING:
        client.close()


def close_unused() -> None:
    """Close the clients of snapshots that nothing uses any more (call where no lock is held:
    before opening a build, and before each question)."""
    while _UNUSED:
        try:
            client = _UNUSED.pop()
        except IndexError:  # another thread took the last one
            return
        with contextlib.suppress(Exception):
            _close(client)


def open_index(settings: Settings) -> IndexSnapshot:
    """Load the build in service (IndexMissing if there is none)."""
    close_unused()
    store = Store(settings)
    name = require_current(settings, store)  # one store: with chroma_host, one client
    client = None
    try:
        client = store.client(name)
        collections = store.collections(name, client)
    except Exception as exc:  # noqa: BLE001
        store.release(client)
        raise IndexMissing(
            f"The index build {name} cannot be opened ({exc}); rebuild it with "
            "`assistant index --force`."
        ) from exc
    try:
        # a build stored in another layout is not read with this one's reader (units would
        # silently come back empty): it must be rebuilt
        manifest = json.loads((collections["chunks"].metadata or {}).get("manifest", "{}"))
        if manifest.get("format") != INDEX_FORMAT:
            raise IndexOutdated(
                f"The index build {name} was stored by another version (index format "
                f"{manifest.get('format')}; this version reads {INDEX_FORMAT}); rebuild it with "
                "`assistant index`.")
        snapshot = _load(store, name, client, collections, _read_snapshot(store, name),
                         manifest)
    except BaseException:
        store.release(client)
        raise
    # the client is closed once nothing uses this build any more (the server has switched to
    # a newer one and the last question asked of this one has been answered)
    if not settings.chroma_host:  # the server client is shared: nothing to close
        weakref.finalize(snapshot, _UNUSED.append, client)
    return snapshot


SNAPSHOT_FORMAT = 3  # 3: the rows as stored in Chroma (`_layout`), one line each


def _save_snapshot(store: Store, name: str, layout: dict[str, Records],
                   manifest: dict[str, Any]) -> None:
    """Keep a copy of the rows a server loads at start (chunk rows with their units, unit and
    vocabulary vectors) in two plain files beside the build: a text file and a NumPy array
    file (no pickle). Reading ~80,000 rows back out of Chroma took most of a server's start-up
    at 1,000 documents (get() pages through SQLite and converts every vector); the files load
    in about a second. Chroma stays the store of record and answers the chunk searches; a
    missing or unreadable snapshot just means reading Chroma (and writing the snapshot).

    The text file holds the JSON row values written to Chroma as they are, one per line
    after a header line: serialising every unit's metadata again for the snapshot was a
    twentieth of a 1,000-document build's time outside the model."""
    folder = store.snapshot_dir(name)
    temporary = folder.with_name(folder.name + f".tmp-{uuid.uuid4().hex[:6]}")
    try:
        temporary.mkdir(parents=True)
        counts = {part: len(layout[part].ids) for part in ROW_PARTS}
        lines = [json.dumps({"format": SNAPSHOT_FORMAT, "manifest": manifest, "rows": counts})]
        for part in ROW_PARTS:  # ids have no tab: chunk ids are hex, terms words
            lines += [f"{part}\t{id_}\t{meta[ROW]}" for id_, meta in zip(
                layout[part].ids, layout[part].metadatas, strict=True)]
        (temporary / "rows.txt").write_text("\n".join(lines), encoding="utf-8")
        with open(temporary / "vectors.npz", "wb") as handle:
            np.savez(handle, units=_stack(layout["units"].embeddings),
                     unit_hashes=np.asarray(layout["units"].ids, dtype=bytes),  # hex: ASCII
                     terms=_stack(layout["terms"].embeddings))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(temporary, folder)
    except OSError as exc:  # e.g. a read-only index folder on a replica: start-up reads Chroma
        log.info("could not keep a snapshot of build %s (%s)", name, exc)
        shutil.rmtree(temporary, ignore_errors=True)


def _read_snapshot(store: Store, name: str) -> tuple[dict[str, Records], dict[str, Any]] | None:
    """A build's rows (units with their vectors, terms with theirs) and its manifest, from its
    snapshot; None when there is none of this format or it cannot be read."""
    folder = store.snapshot_dir(name)
    try:
        header, *lines = (folder / "rows.txt").read_text(encoding="utf-8").split("\n")
        head = json.loads(header)
        if head.get("format") != SNAPSHOT_FORMAT:
            return None
        parts: dict[str, list[tuple[str, str]]] = {part: [] for part in ROW_PARTS}
        for line in lines:
            part, id_, row = line.split("\t", 2)
            parts[part].append((id_, row))
        if {part: len(parts[part]) for part in parts} != head["rows"]:  # cut short
            raise ValueError("rows are missing")
        rows = {part: _row_records(parts[part]) for part in ROW_PARTS}
        rows["chunks"] = _expand_copies(rows["chunks"])
        rows["units"] = _expand_units(rows["chunks"])
        with np.load(folder / "vectors.npz", allow_pickle=False) as vectors:
            position = {h.decode(): k for k, h in enumerate(vectors["unit_hashes"].tolist())}
            at = [position[m["content_hash"]] for m in rows["units"].metadatas]
            # a view of its distinct vector for each unit: no copy of the shared ones (at
            # 1,000 documents, 78,306 rows would be 120 MB; the distinct ones are 19 MB)
            matrix = vectors["units"]
            rows["units"].embeddings = [matrix[k] for k in at]
            rows["terms"].embeddings = vectors["terms"]
        return rows, head["manifest"]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        if folder.exists():
            log.warning("the snapshot of build %s is unreadable (%s); reading Chroma", name, exc)
        return None


def _stack(vectors: Any) -> Any:
    """Rows (a list of vectors or a 2-D array) as one float32 array; (0, 0) when empty."""
    if isinstance(vectors, np.ndarray):
        return vectors.astype(np.float32, copy=False).reshape(len(vectors), -1)
    return np.asarray(np.vstack(vectors) if len(vectors) else np.zeros((0, 0)), dtype=np.float32)


def _normalised(vectors: Any) -> Any:
    array = _stack(vectors)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-9)


def _load(store: Store, name: str, client: Any, collections: dict[str, Any],
          saved: tuple[dict[str, Records], dict[str, Any]] | None, manifest: dict[str, Any]
          ) -> IndexSnapshot:
    if saved is None:
        read = read_rows(collections, vectors=("units", "terms"))
        _save_snapshot(store, name, _layout(read), manifest)
        _prune_snapshots(store, name)
    else:
        read, manifest = saved
    chunk_rows = read["chunks"]
    chunks = {}
    for id_, text, meta in zip(chunk_rows.ids, chunk_rows.documents, chunk_rows.metadatas,
                               strict=True):
        chunks[id_] = meta | {"text": text}
    order = sorted(chunks, key=lambda c: (chunks[c]["source"], chunks[c]["order"]))
    units = read["units"]
    phrases = [i for i, m in enumerate(units.metadatas) if m["kind"] == "phrase"]
    ranked = sorted((i for i, m in enumerate(units.metadatas) if m["kind"] != "phrase"),
                    key=lambda i: (units.metadatas[i]["source"], units.metadatas[i]["order"]))
    terms = read["terms"]

    first = _first_by_hash(units)  # units of one content hash share one vector
    row_of = {content_hash: k for k, content_hash in enumerate(first)}
    at = np.asarray([row_of[m["content_hash"]] for m in units.metadatas], dtype=np.int64)
    distinct = _normalised([units.embeddings[i] for i in first.values()])
    term_matrix = _normalised(terms.embeddings)

    return IndexSnapshot(
        build=name,
        client=client,
        chunk_collection=store.collection_name(name, "chunks"),
        chunks=chunks,
        chunk_order=order,
        unit_ids=[units.ids[i] for i in ranked],
        unit_texts=[units.documents[i] for i in ranked],
        unit_meta=[units.metadatas[i] for i in ranked],
        vectors=distinct,
        unit_rows=at[np.asarray(ranked, dtype=np.int64)],
        phrase_chunks=[units.metadatas[i]["chunk_id"] for i in phrases],
        phrase_rows=at[np.asarray(phrases, dtype=np.int64)],
        terms=terms.ids,
        term_vectors=term_matrix,
        manifest=manifest,
    )
