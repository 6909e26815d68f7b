"""How many of the true nearest chunks Chroma's HNSW search returns, against an exact search.

    python benchmarks/ann_recall.py [--size 1000] [--k 20] [--ef-search 500]

Reads the growth corpus's index that `bench_growth.py --sizes N` left in
index/bench-growth/size-N/index (run that first), embeds the questions of both evaluation
corpora's dev sets (no history), and compares, per question, the rows Chroma returns for an
unscoped search with the exact top `k` by cosine similarity over every vector of the same
collection (the baseline, computed in the same run). Since index format 7 a row is a distinct
chunk vector, standing for every chunk that has it. Prints mean and worst recall@k and how
many questions lost their true nearest chunk. With `--ef-search`, the collection's search
setting is changed for the run and put back after (Chroma applies it to an index it loads
afterwards, so the measure runs in a fresh process).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--ef-search", type=int, default=None)
    args = parser.parse_args()
    from bench_growth import SETS, WORK, _settings

    from assistant.embeddings import make_embeddings
    from assistant.evaluation import load_dataset
    from assistant.index import open_index

    work = WORK / f"size-{args.size}"
    if not (work / "index").is_dir():
        print(f"no index in {work}: run `python benchmarks/bench_growth.py --sizes {args.size}`")
        return 2
    settings = _settings(work / "corpus", work / "index", {})
    snapshot = open_index(settings)
    collection = snapshot.client.get_collection(snapshot.chunk_collection)
    stored = collection.get(include=["embeddings"], limit=10**7)
    matrix = np.asarray(stored["embeddings"], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    model = make_embeddings(settings)
    questions = [c.question for path in SETS.values() for c in load_dataset(path) if not c.history]
    vectors = np.asarray(model.embed_documents(questions), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ef = collection.configuration["hnsw"]["ef_search"]
    if args.ef_search is not None and args.ef_search != ef:
        collection.modify(configuration={"hnsw": {"ef_search": args.ef_search}})
        try:
            return subprocess.call([sys.executable, __file__, "--size", str(args.size),
                                    "--k", str(args.k)])
        finally:
            collection.modify(configuration={"hnsw": {"ef_search": ef}})
    recalls, lost = [], 0
    for vector in vectors:
        exact = matrix @ vector
        threshold = np.sort(exact)[-args.k]
        found = collection.query(query_embeddings=[vector.tolist()], n_results=args.k,
                                 include=["distances"])
        similarities = [1.0 - d for d in found["distances"][0]]
        recalls.append(sum(s >= threshold - 1e-6 for s in similarities) / args.k)
        lost += max(similarities) < float(exact.max()) - 1e-5
    print(f"{len(stored['ids'])} chunk vectors, {len(questions)} questions, ef_search {ef}: "
          f"recall@{args.k} mean {np.mean(recalls):.3f}, worst {min(recalls):.2f}; true "
          f"nearest chunk missed for {lost} (exact search, the baseline: 1.000, 1.00, 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
