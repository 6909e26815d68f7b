"""Prometheus metrics of one app."""

from __future__ import annotations

from assistant.web.limits import Gate


class Metrics:
    """Prometheus counters in a registry of this app's own (several apps can share a process)."""

    def __init__(self, gate: Gate):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "assistant_requests", "Questions received, by channel and outcome.",
            ["channel", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "assistant_request_latency_seconds", "Time to answer a question (answered or "
            "abstained), including the wait for a slot.", ["channel"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30))
        self.abstentions = Counter(
            "assistant_abstentions", "Questions the documents could not answer, by reason.",
            ["reason"], registry=self.registry)
        self.feedback = Counter(
            "assistant_feedback", "Thumbs up/down on answers.", ["rating", "channel"],
            registry=self.registry)
        self.fallbacks = Counter(
            "assistant_generation_fallbacks", "Generated answers replaced by the extractive "
            "one, by why (timeout, failed, unsupported).", ["why"], registry=self.registry)
        self.errors = Counter(
            "assistant_errors", "Questions that got an error reply, by kind.", ["kind"],
            registry=self.registry)
        active = Gauge("assistant_questions_in_progress", "Questions being answered now.",
                       registry=self.registry)
        active.set_function(lambda: gate.active)
        waiting = Gauge("assistant_questions_waiting", "Questions waiting for a free slot.",
                        registry=self.registry)
        waiting.set_function(lambda: gate.waiting)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
