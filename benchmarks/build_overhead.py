"""Indexing's cost outside the model, in seconds instead of minutes.

    python benchmarks/build_overhead.py [--size 1000] [--runs 3]

Builds the corpus-growth corpus of `--size` documents (benchmarks/growth_corpus.py, reused when
bench_growth.py already made it) with an embedder that answers instantly (random unit vectors),
so what is timed is everything a build does besides the model: reading and chunking files,
rows, Chroma writes and the start-up snapshot. The fastest of `--runs` builds is printed, next
to the first build (which also pays for importing Chroma). bench_growth.py gives the overhead
over the model as a share; this is for seeing quickly whether a change to the build moves it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


class Instant:
    """Embeddings at no cost: random unit vectors of the real model's size (Chroma's graph
    and the snapshot cost what they do for real vectors, unlike unit_vector_costs.py's
    constant 8-wide stand-in, which only counts texts)."""

    def __init__(self, dim: int = 384) -> None:
        self.dim, self.rng = dim, np.random.default_rng(0)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from growth_corpus import generate

    from assistant.index import build_index
    from assistant.settings import Settings

    work = ROOT / "index" / "bench-growth" / f"size-{args.size}"
    corpus, index = work / "corpus", ROOT / "index" / "bench-overhead"
    if not corpus.is_dir() or len(list(corpus.iterdir())) < args.size:
        shutil.rmtree(corpus, ignore_errors=True)
        generate(corpus, args.size)
    times: list[float] = []
    report: Any = None
    for _ in range(args.runs):
        shutil.rmtree(index, ignore_errors=True)
        settings = Settings(corpus_dir=corpus, index_dir=index)
        started = time.perf_counter()
        report = build_index(settings, embeddings_factory=Instant)
        times.append(time.perf_counter() - started)
    shutil.rmtree(index, ignore_errors=True)
    print(f"{args.size} documents, {report.chunks} chunks, {report.embedded} texts: build "
          f"outside the model {min(times):.2f} s (fastest of {len(times)}; first "
          f"{times[0]:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
