"""Read a Prometheus exposition into {(sample name, labels): value}, and compare two."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when it is absent (a labelled child not yet created)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


# Every family the issue lists (as the parser names them: counters without `_total`).
LISTED = {
    "pixsearch_http_requests",
    "pixsearch_http_request_duration_seconds",
    "pixsearch_operations_enqueued",
    "pixsearch_operations_finished",
    "pixsearch_operation_idle_seconds",
    "pixsearch_operation_exec_seconds",
    "pixsearch_queue_operations",
    "pixsearch_items",
    "pixsearch_item_failures",
    "pixsearch_fetch_bytes",
    "pixsearch_fetch_duration_seconds",
    "pixsearch_inference_batch_size",
    "pixsearch_inference_duration_seconds",
    "pixsearch_search_duration_seconds",
    "pixsearch_vector_index_vectors",
}
