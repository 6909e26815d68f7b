"""Time to first text and whole-answer time per answerer, and first text on the chat page.

    python benchmarks/bench_generation.py                         # extractive and llamacpp
    python benchmarks/bench_generation.py --backend openai --llm-base-url http://127.0.0.1:8080/v1
    python benchmarks/bench_generation.py --chat-page             # + the browser measurement

Part 1 (`Assistant.stream`, in process): for each backend, the dev set's answerable questions
(the first --questions of evals/seed/dev.jsonl, on evals/seed/corpus), each asked once after
a warm-up: time to the first piece of text, and to the final (guarded) reply; p50 and p95.
`extractive` runs in the same process as the baseline, and `llamacpp-shipped` (the shipped
q4_1 file read as is, `llm_requantize=none`) as the baseline of the local model's speed-up.
Also the time to the model's own first token (a callback), since the guard shows generated
text a checked sentence at a time. Target (issue 9): llamacpp time to first token <= 1 s.

Part 2 (--chat-page): the real server on loopback and headless Chromium, measured as in
bench_chat_page.py: from Enter to the first answer text shown, and to the final answer.
Target: first text <= 300 ms with the extractive answerer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def first_token_handler() -> Any:
    """A LangChain callback noting when the model wrote its first token (the guard shows a
    sentence only once it is finished and checked, so the first text shown comes later)."""
    from langchain_core.callbacks import BaseCallbackHandler

    class FirstToken(BaseCallbackHandler):
        at: float | None = None

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            if self.at is None:
                self.at = time.perf_counter()

    return FirstToken()


def measure(bot: Any, questions: list[str]) -> dict[str, Any]:
    from assistant.types import Reply

    first, whole, token, generated, fallbacks = [], [], [], 0, 0
    for question in questions:
        bot.clear_caches()
        handler = first_token_handler()
        started = time.perf_counter()
        got_first = None
        reply = None
        for event in bot.stream(question, config={"callbacks": [handler]}):
            if got_first is None and (isinstance(event, str) or isinstance(event, Reply)):
                got_first = time.perf_counter() - started
            if isinstance(event, Reply):
                reply = event
        whole.append(time.perf_counter() - started)
        first.append(got_first or whole[-1])
        if handler.at is not None:
            token.append(handler.at - started)
        if reply is not None and not reply.abstained:
            generated += reply.backend != "extractive"
            fallbacks += bool(reply.fallback)
    return {"first": first, "whole": whole, "token": token, "generated": generated,
            "fallbacks": fallbacks}


def chat_page(settings: Any, bot: Any, questions: list[str]) -> dict[str, list[float]]:
    """Seconds from Enter to the first answer text and to the final answer, in the chat page
    (bench_chat_page.py does the measuring)."""
    from bench_chat_page import browser, page_timings
    from conftest_server import start

    running = start(settings.model_copy(update={"rate_limit_per_minute": 10_000}), bot)
    driver = browser()
    try:
        timings = page_timings(driver, running.url + "/", questions, fresh=bot.clear_caches)
    finally:
        driver.quit()
        running.stop()
    return {"first": [t / 1000 for t in timings["first"]],
            "whole": [t / 1000 for t in timings["final"]]}


def main() -> int:
    from assistant.core import Assistant
    from assistant.evaluation import load_dataset
    from assistant.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", default=None,
                        help="answerers to measure (default: extractive, llamacpp)")
    parser.add_argument("--llm-base-url", default=None, help="for --backend openai")
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--chat-page", action="store_true")
    args = parser.parse_args()
    backends = args.backend or ["extractive", "llamacpp", "llamacpp-shipped"]
    if "extractive" not in backends:
        backends.insert(0, "extractive")  # the baseline of the same run
    variants = {  # name -> (answerer, settings beside the defaults)
        "llamacpp-shipped": ("llamacpp", {"llm_requantize": "none"}),  # the q4_1 file as is
    }
    cases = [c for c in load_dataset(ROOT / "evals" / "seed" / "dev.jsonl")
             if c.kind == "answerable" and not c.history][:args.questions]
    questions = [c.question for c in cases]
    base = Settings(corpus_dir=ROOT / "evals" / "seed" / "corpus",
                    index_dir=ROOT / "index" / "bench-generation")
    embeddings = None
    results = {}
    for backend in backends:
        answerer, more = variants.get(backend, (backend, {}))
        settings = base.model_copy(update={"answerer": answerer, **more,
                                           "llm_base_url": args.llm_base_url,
                                           "llm_timeout_seconds": 120})
        bot = Assistant.from_settings(settings, embeddings=embeddings)
        embeddings = bot.embeddings
        measure(bot, ["What does the role pay?"])  # warm-up: model load, first query
        results[backend] = measure(bot, questions)
        r = results[backend]
        print(f"{backend:<16} {len(questions)} questions  first text p50 "
              f"{statistics.median(r['first']) * 1000:6.0f} ms  p95 {pct(r['first'], 95) * 1000:6.0f} ms"
              f"   whole answer p50 {statistics.median(r['whole']) * 1000:6.0f} ms  p95 "
              f"{pct(r['whole'], 95) * 1000:6.0f} ms   generated {r['generated']}, "
              f"fell back {r['fallbacks']}"
              + (f"   model's first token p50 {statistics.median(r['token']) * 1000:6.0f} ms"
                 if r["token"] else ""))
    if results.get("llamacpp", {}).get("token"):
        r = results["llamacpp"]
        ttft, shown = statistics.median(r["token"]), statistics.median(r["first"])
        print(f"llamacpp time to first token p50 {ttft * 1000:.0f} ms (the model's, "
              f"{len(r['token'])} questions it wrote for): target <= 1000 ms "
              f"{'met' if ttft <= 1.0 else 'MISSED'}")
        print(f"llamacpp first checked text shown p50 {shown * 1000:.0f} ms (a whole sentence, "
              f"passed by the guard; stream_unchecked=true shows tokens as they come)")
    if args.chat_page:
        bot = Assistant.from_settings(base, embeddings=embeddings)
        page = chat_page(base, bot, questions)
        p50 = statistics.median(page["first"])
        print(f"chat page  {len(questions)} questions  first text p50 {p50 * 1000:6.0f} ms  "
              f"p95 {pct(page['first'], 95) * 1000:6.0f} ms   answer complete p50 "
              f"{statistics.median(page['whole']) * 1000:6.0f} ms (final, with sources)")
        print(f"chat page first text p50 {p50 * 1000:.0f} ms: target <= 300 ms "
              f"{'met' if p50 <= 0.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
