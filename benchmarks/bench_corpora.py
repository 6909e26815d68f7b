"""Indexing cost per corpus: time per document and texts embedded per chunk, against a baseline.

For each evaluation corpus (evals/thresholds.toml), a fresh index is built in a temporary
folder with the real embedding model, counting every text sent to it. In the same run, two
baselines on the same documents: the naive LangChain index (RecursiveCharacterTextSplitter
1000/200 into Chroma: one embedded text per chunk) and the raw sentence-transformers encode of
exactly the texts the pipeline embedded (what indexing would cost with no overhead at all).

    python benchmarks/bench_corpora.py [--set seed-dev --set handbooks-dev]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", dest="sets",
                        help="evaluation sets whose corpora to index (default: all)")
    args = parser.parse_args()

    from common import Counting
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.embeddings import make_embeddings
    from assistant.evaluation import load_sets
    from assistant.index import build_index
    from assistant.loading import load_corpus
    from assistant.settings import Settings

    sets = load_sets(ROOT / "evals" / "thresholds.toml")
    if args.sets:
        sets = [s for s in sets if s.name in args.sets]
    corpora = list(dict.fromkeys(s.corpus for s in sets))
    model = make_embeddings(Settings())
    model.embed_documents(["warm up the model", "and its tokenizer"])
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-corpora-"))
    try:
        for corpus in corpora:
            name = corpus.parent.name
            documents = load_corpus(corpus).documents
            counting = Counting(model)
            settings = Settings(corpus_dir=corpus, index_dir=workdir / name / "index")
            started = time.perf_counter()
            report = build_index(settings, embeddings_factory=lambda c=counting: c)
            seconds = time.perf_counter() - started

            started = time.perf_counter()
            for start in range(0, len(counting.texts), 64):
                model.embed_documents(counting.texts[start:start + 64])
            raw = time.perf_counter() - started

            splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
            naive_docs = [Document(page_content=(corpus / d.source).read_text("utf-8")
                                   if d.source.endswith((".md", ".txt")) else d.text,
                                   metadata={"source": d.source}) for d in documents]
            started = time.perf_counter()
            pieces = splitter.split_documents(naive_docs)
            Chroma.from_documents(pieces, model, collection_name="naive",
                                  persist_directory=str(workdir / name / "naive"))
            naive = time.perf_counter() - started
            rows.append((name, len(documents), report.chunks, len(counting.texts), seconds,
                         raw, len(pieces), naive))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'corpus':12}{'docs':>6}{'chunks':>8}{'texts':>8}{'texts/chunk':>13}"
          f"{'index s':>10}{'s/doc':>8}{'raw encode s':>14}{'overhead':>10}"
          f"{'naive chunks':>14}{'naive s/doc':>13}")
    for name, docs, chunks, texts, seconds, raw, naive_chunks, naive in rows:
        print(f"{name:12}{docs:>6}{chunks:>8}{texts:>8}{texts / max(chunks, 1):>13.1f}"
              f"{seconds:>10.1f}{seconds / max(docs, 1):>8.1f}{raw:>14.1f}"
              f"{(seconds - raw) / max(raw, 1e-9):>10.0%}{naive_chunks:>14}"
              f"{naive / max(docs, 1):>13.2f}")
    print("\ntexts/chunk: texts sent to the embedding model per indexed chunk (the naive "
          "baseline embeds 1 per chunk);\noverhead: index time over the raw encode of the same "
          "texts (parsing, chunking, Chroma writes).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
