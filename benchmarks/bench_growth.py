"""Corpus growth: index, start and answer with 1, 100 and 1,000 role documents (issue 11).

    python benchmarks/bench_growth.py [--sizes 1 100 1000] [--config unit_vectors=late]
    python benchmarks/bench_growth.py --sizes 1000 --reprint   # the last run's figures again

Corpora come from benchmarks/growth_corpus.py: the real documents of both evaluation corpora
plus generated ones built from their sections (size 1 is the seed document alone). Each size
runs in its own process (so peak memory is that size's) and prints:

- indexing wall time and texts/s, next to the raw sentence-transformers encode of exactly the
  texts the build had the model read (the same-run baseline, the faster of two encodes;
  overhead = the rest of indexing), and the time outside the model's encodes as a share of
  the model's own time in the build ("outside": the same overhead without a second encode);
- texts the model read per chunk; peak RSS of the indexing process, and with the processes
  that read files for it (its peak plus every worker at the largest one's peak: a bound);
  index size on disk;
- start-up time of a real `assistant serve` until /api/health answers, and its RSS;
- warm query p50/p95 over the dev questions: retrieval alone, and a whole `ask`;
- the dev sets of both real corpora on this corpus, scoped to their own documents and
  unscoped, next to each corpus alone (the 1-document figures).

Targets at 1,000 documents: overhead < 15% (on both readings), <= 3 texts per chunk, ask p95
< 150 ms, server start < 20 s, peak RSS < 4 GiB, evaluation figures no more than 2 points below
the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

WORK = ROOT / "index" / "bench-growth"
SETS = {"seed": ROOT / "evals" / "seed" / "dev.jsonl",
        "handbooks": ROOT / "evals" / "handbooks" / "dev.jsonl"}
METRICS = ("hit@1", "hit@5", "fact_recall", "abstention_recall", "false_refusal")


def _settings(corpus: Path, index: Path, overrides: dict[str, Any]) -> Any:
    from assistant.settings import Settings

    return Settings(corpus_dir=corpus, index_dir=index, feedback_db=index / "feedback.sqlite3",
                    rate_limit_per_minute=100_000, **overrides)


def _outside(row: dict[str, Any]) -> float:
    """Indexing's time outside the model's encodes, as a share of the model's time in that
    same build (a reading of the overhead that does not depend on a second, separate encode)."""
    model = row.get("model_s") or float("nan")
    return (row["index_s"] - model) / model  # type: ignore[no-any-return]


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _serve_start(settings_env: dict[str, str]) -> tuple[float, float]:
    """Seconds until a real `assistant serve` answers /api/health, and its RSS (MiB) then."""
    import httpx
    from conftest import free_port

    port = free_port()
    env = {**os.environ, **settings_env}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = started + 300
        while time.perf_counter() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("the server exited while starting")
            time.sleep(0.1)  # polling a starting process: nothing to wait on but the port
        seconds = time.perf_counter() - started
        status = Path(f"/proc/{process.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS")) / 1024
        return seconds, rss
    finally:
        process.terminate()
        process.wait(timeout=30)


def _evaluate(bot: Any, cases: list[Any], scope: Any) -> dict[str, float]:
    from assistant.evaluation import run_case, summarize

    records = []
    for case in cases:
        if scope is not None and not case.scope:
            case = dataclasses.replace(case, scope=scope)
        bot.clear_caches()
        records.append(run_case(case, bot.ask))
    summary = summarize(records)
    return {m: summary[m]["value"] or 0.0 for m in METRICS if m in summary}


def _worker_peak(settings: Any) -> float:
    """Peak RSS (MiB) of one process that reads files for a build, measured by reading this
    corpus in workers before the model is loaded (RUSAGE_CHILDREN then reports the largest
    worker; later it would count the model, copied into each child for the instant between
    fork and exec)."""
    from assistant.index import prepare_all, worker_count
    from assistant.loading import read_bytes, scan_corpus

    data, hashes = {}, {}
    for source, path in scan_corpus(settings.corpus_dir, settings.max_file_bytes).files:
        data[source], hashes[source] = read_bytes(path, settings.max_file_bytes)
    if worker_count(settings, len(data)) < 2:
        return 0.0
    prepare_all(data, hashes, settings)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def one(size: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """Everything for one corpus size (run in a fresh process)."""
    from common import Counting, pct
    from growth_corpus import generate

    from assistant.core import Assistant
    from assistant.embeddings import make_embeddings
    from assistant.evaluation import load_dataset
    from assistant.index import build_index, worker_count

    folder = WORK / f"size-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    corpus, index = folder / "corpus", folder / "index"
    real = generate(corpus, size)
    settings = _settings(corpus, index, overrides)
    rss_worker = _worker_peak(settings)
    model = make_embeddings(settings)
    model.embed_documents(["warm up the model"])
    # built twice from nothing, the faster kept, as the raw encode below: one build's time
    # varied by 10% from run to run on this machine, most of it inside the model
    seconds, model_seconds = float("inf"), 0.0
    for _ in range(2):
        shutil.rmtree(index, ignore_errors=True)
        counting = Counting(model)
        started = time.perf_counter()
        report = build_index(settings, embeddings_factory=lambda: counting)  # noqa: B023
        took = time.perf_counter() - started
        if took < seconds:
            seconds, model_seconds = took, counting.seconds
    rss_index = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_workers = worker_count(settings, report.files) * rss_worker
    # the raw sentence-transformers encode of the same texts, twice, the faster kept: one
    # encode of the same texts varied by up to 10% from run to run on this machine, and the
    # faster baseline is the stricter one for the overhead
    raw = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        client = getattr(model, "_client", None)
        if client is not None:
            client.encode(counting.texts, batch_size=64, show_progress_bar=False)
        else:
            model.embed_documents(counting.texts)
        raw = min(raw, time.perf_counter() - started)

    env = {"ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
           "ASSISTANT_FEEDBACK_DB": str(index / "feedback.sqlite3"),
           **{f"ASSISTANT_{k.upper()}": str(v) for k, v in overrides.items()}}
    start_seconds, server_rss = _serve_start(env)

    bot = Assistant.from_settings(settings, embeddings=model, build_if_missing=False)
    import torch

    # questions are timed as a server answers them: one CPU thread each (`assistant serve`
    # sets OMP_NUM_THREADS=1; this process kept two for indexing)
    torch.set_num_threads(1)
    out: dict[str, Any] = {
        "size": size, "real": real, "files": report.files, "chunks": report.chunks,
        "texts": len(counting.texts), "index_s": seconds, "model_s": model_seconds, "raw_s": raw,
        "rss_index_mib": rss_index, "rss_workers_mib": rss_workers,
        "disk_mib": _disk(index) / 2**20,
        "start_s": start_seconds, "server_rss_mib": server_rss, "eval": {}}
    cases = {name: load_dataset(path) for name, path in SETS.items()}
    questions = [c.question for c in cases["seed"] + cases["handbooks"]
                 if c.kind == "answerable" and not c.history][:60]
    bot.ask("What does the role pay?")  # warm-up
    retrieve, ask = [], []
    for question in questions:
        bot.clear_caches()
        started = time.perf_counter()
        bot.retrieve(question)
        retrieve.append((time.perf_counter() - started) * 1000)
        bot.clear_caches()
        started = time.perf_counter()
        bot.ask(question)
        ask.append((time.perf_counter() - started) * 1000)
    out["retrieve_ms"] = (pct(retrieve, 50), pct(retrieve, 95))
    out["ask_ms"] = (pct(ask, 50), pct(ask, 95))
    seed_docs = [r for r in real if not r.startswith(("18f-", "sourcegraph-"))]
    hb_docs = [r for r in real if r.startswith(("18f-", "sourcegraph-"))]
    for name, docs in (("seed", seed_docs), ("handbooks", hb_docs)):
        if not docs:
            continue
        out["eval"][f"{name} scoped"] = _evaluate(bot, cases[name], docs)
        if size > len(docs):
            out["eval"][f"{name} unscoped"] = _evaluate(bot, cases[name], None)
    out["rss_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def alone(overrides: dict[str, Any]) -> dict[str, Any]:
    """The 1-document figures: each real corpus indexed alone, its dev set on it."""
    from assistant.core import Assistant
    from assistant.evaluation import load_dataset

    out = {}
    for name, path in SETS.items():
        corpus = path.parent / "corpus"
        settings = _settings(corpus, WORK / f"alone-{name}", overrides)
        bot = Assistant.from_settings(settings)
        out[name] = _evaluate(bot, load_dataset(path), None)
        # the baseline of the scoped runs: the same questions scoped the same way (a scope
        # turns off finding the role a question names, which the unscoped run does)
        out[f"{name} scoped"] = _evaluate(bot, load_dataset(path), sorted(
            p.name for p in corpus.iterdir() if p.is_file()))
    return out


def _base(baseline: dict[str, Any], label: str) -> dict[str, float]:
    """The alone figures a run is compared with: scoped runs with the corpus alone scoped to
    its documents (when measured), unscoped runs with it unscoped."""
    name = label.split()[0]
    return baseline.get(f"{name} scoped", baseline[name]) if label.endswith(" scoped") \
        else baseline[name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--config", action="append", default=[],
                        help="key=value settings for every build (e.g. unit_vectors=late)")
    parser.add_argument("--reprint", action="store_true",
                        help="print the figures the last run kept (index/bench-growth) again")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.config)
    tag = "-".join(sorted(args.config)).replace("=", "_") or "default"
    if args.one is not None:
        result = one(args.one, overrides)
        (WORK / f"result-{args.one}-{tag}.json").write_text(json.dumps(result))
        return 0
    if args.alone:
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / f"result-alone-{tag}.json").write_text(json.dumps(alone(overrides)))
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    def child(*extra: str) -> dict[str, Any]:
        """One size in its own process; its figures are kept in a file as soon as they exist
        (a long run that stops later keeps the sizes it finished)."""
        command = [sys.executable, __file__, *extra] + [f"--config={c}" for c in args.config]
        if not args.reprint:
            subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        name = "alone" if extra == ("--alone",) else extra[1]
        return json.loads((WORK / f"result-{name}-{tag}.json").read_text())

    baseline = child("--alone")
    rows = [child("--one", str(size)) for size in args.sizes]
    print(f"settings: {args.config or 'defaults'}")
    print(f"{'docs':>6}{'chunks':>8}{'texts':>8}{'t/chunk':>9}{'index s':>9}{'texts/s':>9}"
          f"{'model s':>8}{'raw s':>8}{'overhead':>10}{'outside':>9}{'RSS MiB':>9}{'+wrk':>7}"
          f"{'disk MiB':>10}{'start s':>9}"
          f"{'srv MiB':>9}{'retr p50/p95':>14}{'ask p50/p95':>14}")
    for r in rows:
        print(f"{r['size']:>6}{r['chunks']:>8}{r['texts']:>8}{r['texts'] / r['chunks']:>9.2f}"
              f"{r['index_s']:>9.1f}{r['texts'] / r['index_s']:>9.0f}"
              f"{r.get('model_s', float('nan')):>8.1f}{r['raw_s']:>8.1f}"
              f"{r['index_s'] / r['raw_s'] - 1:>10.0%}{_outside(r):>9.0%}{r['rss_peak_mib']:>9.0f}"
              f"{r['rss_index_mib'] + r.get('rss_workers_mib', 0):>7.0f}"
              f"{r['disk_mib']:>10.1f}{r['start_s']:>9.1f}{r['server_rss_mib']:>9.0f}"
              f"{r['retrieve_ms'][0]:>7.0f}/{r['retrieve_ms'][1]:<6.0f}"
              f"{r['ask_ms'][0]:>7.0f}/{r['ask_ms'][1]:<6.0f}")
    print("\nevaluation (dev sets): " + ", ".join(METRICS))
    for name, figures in baseline.items():
        print(f"  {name + ' alone':<30}" + "  ".join(f"{figures.get(m, 0):.3f}" for m in METRICS))
    for r in rows:
        for label, figures in r["eval"].items():
            base = _base(baseline, label)
            delta = "  ".join(f"{figures.get(m, 0) - base.get(m, 0):+.3f}" for m in METRICS)
            print(f"  {r['size']:>5} docs, {label:<19}"
                  + "  ".join(f"{figures.get(m, 0):.3f}" for m in METRICS) + f"   vs alone {delta}")
    big = rows[-1]
    checks = [
        # both readings of the overhead must pass: the raw encode of the same texts is timed
        # after the build, and on this machine one encode ran from 70 to 78 s between runs, so
        # index/raw alone "met" the target when the raw encode happened to be slow
        ("indexing overhead over raw encode < 15% (and outside the model < 15%)",
         max(big["index_s"] / big["raw_s"] - 1, _outside(big)) < 0.15),
        ("texts per chunk <= 3", big["texts"] / big["chunks"] <= 3),
        ("ask p95 < 150 ms", big["ask_ms"][1] < 150),
        ("server start < 20 s", big["start_s"] < 20),
        ("peak RSS < 4 GiB", max(big["rss_peak_mib"], big["server_rss_mib"],
                                 big["rss_index_mib"] + big.get("rss_workers_mib", 0)) < 4096),
    ]
    worst = min((figures.get(m, 0) - _base(baseline, label).get(m, 0))
                * (-1 if m == "false_refusal" else 1)
                for label, figures in big["eval"].items() if label.endswith("scoped")
                and not label.endswith("unscoped") for m in METRICS)
    checks.append(("scoped evaluation within 2 points of alone", worst >= -0.02))
    print(f"\ntargets at {big['size']} documents:")
    for text, ok in checks:
        print(f"  {text}: {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
