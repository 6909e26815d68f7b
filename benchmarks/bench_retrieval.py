"""Issue 2 benchmark: this pipeline against the naive LangChain baseline, in one process.

Baseline: RecursiveCharacterTextSplitter(1000, 200) over the corpus files, Chroma similarity
search top-5, the same all-MiniLM-L6-v2 embeddings. Both answer the same answerable questions
(single-turn) from the evaluation set; a hit is a retrieved passage containing one of the
case's evidence strings. Prints hit@1, MRR@5 and warm per-question latency for both, the time
to rebuild an unchanged index, and whether each target holds.

    python benchmarks/bench_retrieval.py [--dataset evals/dataset.jsonl ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluation import contains, load_dataset  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def score(ranked: list[list[str]], evidence: list[list[str]]) -> tuple[float, float]:
    hit1, rr = 0, 0.0
    for texts, ev in zip(ranked, evidence, strict=True):
        ranks = [i for i, t in enumerate(texts[:5]) if any(contains(t, e) for e in ev)]
        hit1 += bool(ranks) and ranks[0] == 0
        rr += 1.0 / (ranks[0] + 1) if ranks else 0.0
    return hit1 / len(ranked), rr / len(ranked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", type=Path)
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = parser.parse_args()
    datasets = args.dataset or [ROOT / "evals" / "dataset.jsonl"]
    cases = [c for d in datasets for c in load_dataset(d)
             if c.kind == "answerable" and not c.history]
    questions = [c.question for c in cases]
    evidence = [c.evidence for c in cases]
    print(f"{len(cases)} single-turn answerable questions from {', '.join(map(str, datasets))}")

    from assistant.core import Assistant
    from assistant.index import build_index
    from assistant.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        settings = Settings(corpus_dir=args.corpus, index_dir=workdir / "index")
        started = time.perf_counter()
        bot = Assistant.from_settings(settings)
        print(f"pipeline: first build + open {time.perf_counter() - started:.1f}s")
        embeddings = bot.embeddings

        # --- naive LangChain baseline, same embeddings object ----------------------------
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        docs = []
        for path in sorted(args.corpus.rglob("*")):
            if path.suffix.lower() in (".txt", ".md"):
                docs.append(Document(page_content=path.read_text("utf-8"),
                                     metadata={"source": path.name}))
        chunks = splitter.split_documents(docs)
        store = Chroma.from_documents(chunks, embeddings, collection_name="naive",
                                      persist_directory=str(workdir / "naive"))
        for q in ("warm up", "salary range", "skills"):  # warm both paths on other text
            store.similarity_search(q, k=5)
            bot.ask(q)
        bot.clear_caches()

        base_ranked, base_times = [], []
        for q in questions:
            t = time.perf_counter()
            found = store.similarity_search(q, k=5)
            base_times.append((time.perf_counter() - t) * 1000)
            base_ranked.append([d.page_content for d in found])

        ranked, ask_times = [], []
        for q in questions:
            t = time.perf_counter()
            reply = bot.ask(q)
            ask_times.append((time.perf_counter() - t) * 1000)
            ranked.append([c.text for c in reply.contexts])

        rebuilds = []
        for _ in range(5):
            t = time.perf_counter()
            report = build_index(settings)
            rebuilds.append(time.perf_counter() - t)
            assert report.up_to_date and report.embedded == 0

        b_hit1, b_mrr = score(base_ranked, evidence)
        p_hit1, p_mrr = score(ranked, evidence)
        print(f"\n{'':28}{'baseline':>12}{'pipeline':>12}")
        print(f"{'chunks':28}{len(chunks):>12}{len(bot._ensure_state().snapshot.chunks):>12}")
        print(f"{'hit@1':28}{b_hit1:>12.3f}{p_hit1:>12.3f}")
        print(f"{'MRR@5':28}{b_mrr:>12.3f}{p_mrr:>12.3f}")
        print(f"{'warm latency p50 (ms)':28}{statistics.median(base_times):>12.1f}"
              f"{statistics.median(ask_times):>12.1f}")
        print(f"{'warm latency p95 (ms)':28}{percentile(base_times, .95):>12.1f}"
              f"{percentile(ask_times, .95):>12.1f}")
        print("  (baseline: similarity_search only; pipeline: the whole ask(), answer included)")
        print(f"unchanged-index rebuild: median {statistics.median(rebuilds) * 1000:.0f} ms "
              f"(max {max(rebuilds) * 1000:.0f} ms over {len(rebuilds)} runs, nothing re-embedded)")
        targets = [
            (f"hit@1 at least 0.2 above the baseline ({p_hit1:.3f} vs {b_hit1:.3f})",
             p_hit1 - b_hit1 >= 0.2),
            (f"warm ask p50 under 50 ms ({statistics.median(ask_times):.1f} ms)",
             statistics.median(ask_times) < 50),
            (f"unchanged rebuild under 1 s ({max(rebuilds):.2f} s worst)", max(rebuilds) < 1.0),
        ]
        print()
        for label, ok in targets:
            print(f"{'PASS' if ok else 'MISS'}  {label}")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
