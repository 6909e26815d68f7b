"""Soak: 64 candidates at once for a few minutes; errors by kind, latency, and the server's memory.

    python benchmarks/bench_soak.py                        # starts its own server
    python benchmarks/bench_soak.py --seconds 600 --clients 64 --rate-limit 20
    python benchmarks/bench_soak.py --url http://127.0.0.1:7860 --pid 1234   # a running server

One run, three phases:
  baseline  one candidate for --baseline-seconds: each request's service time, no queueing;
  warm-up   all candidates for --warmup-seconds (caches, thread pools and the allocator fill);
  soak      all candidates for --seconds, the server's resident memory (VmRSS of --pid, or of the
            server the benchmark started) sampled every --sample-seconds.
Each candidate loops over what the chat and the API clients send: questions, follow-ups with the
conversation so far, streamed questions, OpenAI-compatible completions, a vote on an answer it
got, and the documents / health / widget-config reads. Every reply is checked for its shape.
Errors are counted by kind; deliberate replies (429 rate_limited, 503 busy) apart. Memory: the
RSS right after warm-up is the baseline; the last sample is compared with it, and least-squares
slopes are given over the whole soak and over its second half. Memory that keeps growing to
the end (second-half slope over --max-growth-mb-per-min) is flagged, and exits 1 as any error
does; growth that levels off is caches and allocator arenas filling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import WARMUP, Phase, load_questions, start_server  # noqa: E402

FOLLOW_UPS = ["say more about the first one", "and the second one?", "what about remote work?",
              "and the 75th percentile?"]
# what one candidate's next request is, with weights (questions dominate, as on a careers page)
MIX = [("ask", 45), ("follow_up", 15), ("stream", 15), ("openai", 10), ("feedback", 5),
       ("read", 10)]
READS = ["/api/documents", "/api/health", "/widget/config"]
QUESTION_KINDS = ("ask", "follow_up", "stream", "openai")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60 if var else 0.0


class Candidate:
    """One simulated candidate: its own client id, questions and last answer."""

    def __init__(self, name: str, questions: list[str], rng: random.Random):
        self.headers = {"X-Client-Id": name}
        self.questions = questions
        self.rng = rng
        self.last: dict[str, Any] | None = None  # the last /api/ask reply, for follow-ups

    def next_kind(self) -> str:
        kind = self.rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        if kind in ("follow_up", "feedback") and self.last is None:
            return "ask"
        return kind

    async def request(self, client: httpx.AsyncClient, kind: str) -> tuple[httpx.Response, str]:
        """Send one request of `kind`; return the response and what is wrong with it ("" if
        nothing)."""
        question = self.rng.choice(self.questions)
        if kind == "ask":
            response = await client.post("/api/ask", json={"question": question},
                                         headers=self.headers)
            return response, self._reply(response)
        if kind == "follow_up":
            assert self.last is not None
            history = [{"role": "user", "content": self.last["question"]},
                       {"role": "assistant", "content": self.last["answer"]}]
            response = await client.post("/api/ask", json={
                "question": self.rng.choice(FOLLOW_UPS), "history": history},
                headers=self.headers)
            return response, self._reply(response)
        if kind == "stream":
            response = await client.post("/api/ask/stream", json={"question": question},
                                         headers={**self.headers, "X-Chat-Client": "chat"})
            if response.status_code != 200:
                return response, ""
            finals = [block for block in re.split(r"\r?\n\r?\n", response.text)
                      if block.strip().startswith("event: final")]
            return response, "" if len(finals) == 1 else "no final event"
        if kind == "openai":
            response = await client.post("/v1/chat/completions", json={
                "model": "role-assistant", "messages": [{"role": "user", "content": question}]},
                headers=self.headers)
            if response.status_code != 200:
                return response, ""
            content = response.json().get("choices", [{}])[0].get("message", {}).get("content")
            return response, "" if isinstance(content, str) and content else "no content"
        if kind == "feedback":
            assert self.last is not None
            vote = {k: self.last[k] for k in ("question", "answer", "citations", "answer_id")}
            response = await client.post("/api/feedback", json={
                "rating": self.rng.choice(["up", "down"]), **vote}, headers=self.headers)
            return response, "" if response.status_code != 200 else "200 instead of 204"
        path = self.rng.choice(READS)
        response = await client.get(path, headers=self.headers)
        if response.status_code == 200:
            try:
                response.json()
            except ValueError:
                return response, "not JSON"
        return response, ""

    def _reply(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            return ""
        try:
            data = response.json()
        except ValueError:
            return "not JSON"
        if not isinstance(data.get("answer"), str) or not data["answer"].strip():
            return "no answer"
        self.last = data
        return ""


def classify(response: httpx.Response) -> str:
    """'' for a success, 'rate_limited' / 'busy' for deliberate refusals, else the error."""
    status = response.status_code
    if status in (200, 204):
        return ""
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else error  # /v1 or /api shape
    if status == 429 and code == "rate_limited":
        return "rate_limited"
    if status == 503 and code == "busy":
        return "busy"
    return f"HTTP {status} {code or ''}".strip()


async def candidate_loop(client: httpx.AsyncClient, who: Candidate, phases: dict[str, Phase],
                         until: float) -> None:
    while time.monotonic() < until:
        kind = who.next_kind()
        phase = phases.setdefault(kind, Phase(kind))
        started = time.perf_counter()
        try:
            response, wrong = await who.request(client, kind)
        except httpx.HTTPError as exc:
            phase.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        outcome = classify(response)
        if outcome == "rate_limited":
            phase.rate_limited += 1
        elif outcome == "busy":
            phase.busy += 1
        elif outcome:
            phase.errors.append(f"{outcome}: {response.text[:160]}")
        elif wrong:
            phase.errors.append(f"malformed {kind} reply: {wrong}")
        else:
            phase.latencies.append(elapsed)
            if kind in ("ask", "follow_up") and response.json().get("abstained"):
                phase.abstained += 1


async def run_phase(url: str, name: str, clients: int, seconds: float, pool: list[str],
                    seed: int) -> dict[str, Phase]:
    phases: dict[str, Phase] = {}
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(candidate_loop(
            client, Candidate(f"soak-{name}-{i}", pool, random.Random(seed * 1000 + i)),
            phases, until) for i in range(clients)))
        wall = time.monotonic() - started
    for phase in phases.values():
        phase.wall = wall
    return phases


def sample_rss(pid: int, every: float, stop: threading.Event,
               samples: list[tuple[float, float]]) -> None:
    started = time.monotonic()
    while True:
        samples.append((time.monotonic() - started, rss_mb(pid)))
        if stop.wait(every):
            samples.append((time.monotonic() - started, rss_mb(pid)))
            return


def report(title: str, phases: dict[str, Phase]) -> tuple[int, int, int]:
    """Print a phase; return (errors, rate_limited, busy)."""
    print(f"== {title}")
    for kind, _ in MIX:
        if kind in phases:
            print("  " + phases[kind].line())
    questions = Phase("questions")
    questions.latencies = [x for k in QUESTION_KINDS if k in phases for x in phases[k].latencies]
    questions.wall = max((p.wall for p in phases.values()), default=0.0)
    print(f"  all questions: {len(questions.latencies)} answered, p50 "
          f"{questions.percentile(50) * 1000:.0f} ms, p95 {questions.percentile(95) * 1000:.0f} ms, "
          f"{len(questions.latencies) / questions.wall if questions.wall else 0:.1f} answers/s")
    errors = [e for p in phases.values() for e in p.errors]
    kinds = Counter(e.split(":")[0] for e in errors)
    limited = sum(p.rate_limited for p in phases.values())
    busy = sum(p.busy for p in phases.values())
    print(f"  errors: {len(errors)}" + (f" {dict(kinds)}" if kinds else "")
          + f"; deliberate: rate_limited {limited}, busy {busy}")
    for error in errors[:5]:
        print(f"    {error}")
    return len(errors), limited, busy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="An already running server (default: start one).")
    parser.add_argument("--pid", type=int, help="Its process id, for the memory samples.")
    parser.add_argument("--clients", type=int, default=64, help="Concurrent candidates.")
    parser.add_argument("--seconds", type=float, default=150, help="Length of the soak.")
    parser.add_argument("--warmup-seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=15)
    parser.add_argument("--sample-seconds", type=float, default=5, help="RSS sampling period.")
    parser.add_argument("--max-growth-mb-per-min", type=float, default=2.0,
                        help="RSS slope over the soak's second half above which memory growth "
                        "is flagged.")
    parser.add_argument("--rate-limit", type=int, default=0, help="rate_limit_per_minute for the "
                        "server the benchmark starts (0: off; each candidate has its own id).")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="queue_concurrency for the server the benchmark starts.")
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="Index folder for the server the benchmark starts.")
    parser.add_argument("--seed", type=int, default=11, help="Seed of the candidates' choices.")
    args = parser.parse_args()

    pool = load_questions() or WARMUP
    process = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
        print(f"server: {url} (already running)")
    else:
        # the server's own queue limits (not bench_http's roomier ones): busy replies can occur
        process, url, scratch = start_server(args, {
            "ASSISTANT_RATE_LIMIT_PER_MINUTE": str(args.rate_limit),
            "ASSISTANT_QUEUE_MAX_SIZE": "64", "ASSISTANT_QUEUE_TIMEOUT_SECONDS": "20"})
        pid = process.pid
        print(f"server: {url} (started by the benchmark, pid {pid}; log {scratch / 'server.log'})")
    samples: list[tuple[float, float]] = []
    try:
        print(f"{args.clients} candidates; baseline {args.baseline_seconds:g} s with 1, warm-up "
              f"{args.warmup_seconds:g} s, soak {args.seconds:g} s; {len(pool)} questions; "
              f"rate limit {args.rate_limit or 'off'}; seed {args.seed}")
        rss_start = rss_mb(pid) if pid else float("nan")
        baseline = asyncio.run(run_phase(url, "baseline", 1, args.baseline_seconds, pool,
                                         args.seed))
        warmup = asyncio.run(run_phase(url, "warmup", args.clients, args.warmup_seconds, pool,
                                       args.seed + 1))
        stop = threading.Event()
        sampler = None
        if pid:
            sampler = threading.Thread(target=sample_rss, args=(pid, args.sample_seconds, stop,
                                                                samples), daemon=True)
            sampler.start()
        soak = asyncio.run(run_phase(url, "soak", args.clients, args.seconds, pool,
                                     args.seed + 2))
        stop.set()
        if sampler is not None:
            sampler.join(timeout=30)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)

    failed = 0
    for title, phases in ((f"baseline: 1 candidate, {args.baseline_seconds:g} s", baseline),
                          (f"warm-up: {args.clients} candidates, {args.warmup_seconds:g} s",
                           warmup),
                          (f"soak: {args.clients} candidates, {args.seconds:g} s", soak)):
        errors, _, _ = report(title, phases)
        failed += errors
    base_q = [x for k in QUESTION_KINDS if k in baseline for x in baseline[k].latencies]
    soak_q = [x for k in QUESTION_KINDS if k in soak for x in soak[k].latencies]
    if base_q and soak_q:
        b, s = Phase("b"), Phase("s")
        b.latencies, s.latencies = base_q, soak_q
        print(f"soak p50 is {s.percentile(50) / b.percentile(50):.1f}x the 1-candidate p50 "
              f"({b.percentile(50) * 1000:.0f} ms): time spent queuing for a slot")

    grown = False
    if samples:
        first, last = samples[0][1], samples[-1][1]
        slope = slope_per_minute(samples)
        late = slope_per_minute([x for x in samples if x[0] >= samples[-1][0] / 2])
        grown = late > args.max_growth_mb_per_min
        print(f"== server memory (VmRSS), every {args.sample_seconds:g} s of the soak")
        print(f"  before the baseline {rss_start:.0f} MB; after warm-up (baseline) {first:.0f} MB; "
              f"end {last:.0f} MB ({last - first:+.0f} MB, {(last - first) / first:+.1%}); "
              f"max {max(m for _, m in samples):.0f} MB")
        print("  samples MB: " + " ".join(f"{m:.0f}" for _, m in samples))
        print(f"  slope {slope:+.2f} MB/min over the {samples[-1][0]:.0f} s, {late:+.2f} MB/min "
              f"over its second half -> {'GROWING' if grown else 'flat'} (threshold "
              f"{args.max_growth_mb_per_min:g} MB/min)")
    else:
        print("== server memory: not sampled (pass --pid for a server the benchmark did not "
              "start)")
    print(json.dumps({"errors": failed, "rss_growing": grown}))
    return 1 if failed or grown else 0


if __name__ == "__main__":
    sys.exit(main())
