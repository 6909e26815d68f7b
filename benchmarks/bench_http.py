"""HTTP latency under load: 32 simulated candidates asking over POST /api/ask at once.

    python benchmarks/bench_http.py                      # starts its own server, then measures
    python benchmarks/bench_http.py --url http://127.0.0.1:7860 --client-ids
    python benchmarks/bench_http.py --clients 32 --questions 4 --concurrency 2

Two phases in one run, each on questions not asked before (so no cache makes them cheap):
  baseline  one candidate asking questions one after another: the service time of one answer;
  load      N candidates at once, each asking its questions one after another.
Prints p50/p95/max latency, throughput and error counts for both, and checks the load p95
against the target (1 s with the default extractive answerer). Rate-limit replies (429) are
counted apart from errors: the server the benchmark starts has the rate limit off and trusts
X-Client-Id; against another server, pass --client-ids so each candidate has its own id (the
server must set trust_client_id) or raise its rate_limit_per_minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WARMUP = ["What does the role pay?", "Is remote work possible?", "Do you sponsor visas?"]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful replies only
    abstained: int = 0
    rate_limited: int = 0
    busy: int = 0
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        k = (len(ordered) - 1) * p / 100
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    def line(self) -> str:
        n = len(self.latencies) + self.rate_limited + self.busy + len(self.errors)
        return (f"{self.name:<9} {n:>4} requests  p50 {self.percentile(50) * 1000:7.0f} ms  "
                f"p95 {self.percentile(95) * 1000:7.0f} ms  max "
                f"{max(self.latencies, default=float('nan')) * 1000:7.0f} ms  "
                f"{len(self.latencies) / self.wall if self.wall else 0:5.2f} answers/s  "
                f"errors {len(self.errors)}  busy {self.busy}  rate-limited {self.rate_limited}  "
                f"(abstained {self.abstained})")


def load_questions() -> list[str]:
    """Single-turn candidate questions from the evaluation sets, no repeats."""
    seen: list[str] = []
    for name in ("dev.jsonl", "dev-casual.jsonl", "holdout.jsonl"):  # the seed role's sets
        path = ROOT / "evals" / "seed" / name
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                if not case.get("history") and case["question"] not in seen + WARMUP:
                    seen.append(case["question"])
    return seen


async def candidate(client: httpx.AsyncClient, questions: list[str], phase: Phase,
                    client_id: str | None) -> None:
    headers = {"X-Client-Id": client_id} if client_id else {}
    for question in questions:
        started = time.perf_counter()
        try:
            response = await client.post("/api/ask", json={"question": question, "history": []},
                                         headers=headers)
        except httpx.HTTPError as exc:
            phase.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        if response.status_code == 200:
            phase.latencies.append(elapsed)
            phase.abstained += bool(response.json().get("abstained"))
        elif response.status_code == 429:
            phase.rate_limited += 1
        elif response.status_code == 503 and response.json().get("error") == "busy":
            phase.busy += 1
        else:
            phase.errors.append(f"HTTP {response.status_code}: {response.text[:120]}")


async def run_phase(url: str, name: str, batches: list[list[str]], client_ids: bool) -> Phase:
    phase = Phase(name)
    limits = httpx.Limits(max_connections=len(batches) + 4, max_keepalive_connections=len(batches))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(candidate(client, batch, phase,
                                         f"bench-{name}-{i}" if client_ids else None)
                               for i, batch in enumerate(batches)))
        phase.wall = time.perf_counter() - started
    return phase


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: argparse.Namespace, env_overrides: dict[str, str] | None = None,
                 ) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`assistant serve` in a subprocess, rate limit off, client ids trusted, own feedback db
    (`env_overrides`: other ASSISTANT_* settings for it)."""
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="bench-http-"))
    env = dict(os.environ)
    env.update({
        "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0", "ASSISTANT_TRUST_CLIENT_ID": "true",
        "ASSISTANT_QUEUE_MAX_SIZE": str(max(64, args.clients * 2)),
        "ASSISTANT_QUEUE_TIMEOUT_SECONDS": "120",
        "ASSISTANT_FEEDBACK_DB": str(scratch / "feedback.sqlite3"),
        **(env_overrides or {}),
    })
    if args.concurrency:
        env["ASSISTANT_QUEUE_CONCURRENCY"] = str(args.concurrency)
    command = [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port)]
    if args.index_dir:
        command += ["--index-dir", str(args.index_dir)]
    log = (scratch / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # may build the index on first use
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited; see {scratch / 'server.log'}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return process, url, scratch
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server did not become healthy in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="An already running server (default: start one).")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent candidates.")
    parser.add_argument("--questions", type=int, default=4,
                        help="Questions each concurrent candidate asks, one after another.")
    parser.add_argument("--baseline", type=int, default=16,
                        help="Questions the single sequential candidate asks.")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="queue_concurrency for the server the benchmark starts.")
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="Index folder for the server the benchmark starts.")
    parser.add_argument("--client-ids", action="store_true",
                        help="Send a distinct X-Client-Id per candidate (always on for the "
                        "server the benchmark starts).")
    parser.add_argument("--target-ms", type=float, default=1000, help="p95 target under load.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 if the target is missed.")
    args = parser.parse_args()

    pool = load_questions()
    needed = args.baseline + args.clients * args.questions
    if len(pool) < needed:  # reuse questions only when the sets are too small
        pool = (pool * (needed // max(len(pool), 1) + 1))[:needed]
    random.Random(7).shuffle(pool)  # both phases get the same mix of easy and hard questions
    baseline_qs = pool[:args.baseline]
    load_qs = pool[args.baseline:needed]
    batches = [load_qs[i::args.clients] for i in range(args.clients)]

    process = None
    if args.url:
        url, client_ids = args.url.rstrip("/"), args.client_ids
        print(f"server: {url} (already running)")
    else:
        process, url, scratch = start_server(args)
        client_ids = True
        print(f"server: {url} (started by the benchmark; log {scratch / 'server.log'})")
    try:
        health = httpx.get(f"{url}/api/health", timeout=10).json()
        print(f"index topics: {len(health.get('topics', []))}; "
              f"{os.cpu_count()} CPU cores; warming up with {len(WARMUP)} questions")
        asyncio.run(run_phase(url, "warmup", [WARMUP], client_ids))
        baseline = asyncio.run(run_phase(url, "baseline", [baseline_qs], client_ids))
        load = asyncio.run(run_phase(url, "load", batches, client_ids))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)

    print(f"baseline: 1 candidate, {len(baseline_qs)} questions in a row")
    print(f"load:     {args.clients} candidates at once x {args.questions} questions each")
    print(baseline.line())
    print(load.line())
    p95 = load.percentile(95) * 1000
    ratio = load.percentile(50) / baseline.percentile(50) if baseline.latencies else float("nan")
    print(f"load p50 is {ratio:.1f}x the single-candidate p50 "
          f"({baseline.percentile(50) * 1000:.0f} ms): time spent queuing for a slot")
    met = p95 < args.target_ms
    print(f"target: load p95 < {args.target_ms:.0f} ms -> {'met' if met else 'MISSED'} "
          f"({p95:.0f} ms); errors other than rate limiting: {len(load.errors) + len(baseline.errors)}")
    for error in (baseline.errors + load.errors)[:5]:
        print(f"  {error}")
    if baseline.errors or load.errors:
        return 1
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
