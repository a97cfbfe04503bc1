"""How OpenTelemetry metric and attribute names appear in Prometheus, for the two paths the Grafana stack uses.

- scrape: `tracer.instrument(prometheus_port=N)` -> opentelemetry-exporter-prometheus (PrometheusMetricReader)
  -> prometheus_client text exposition. Rules read from opentelemetry/exporter/prometheus/_mapping.py (0.66b2)
  and prometheus_client.metrics_core: the name with every run of characters outside [a-zA-Z0-9:] turned into
  one "_"; the unit mapped ("s" -> "seconds", "{token}" -> "", "USD" -> "USD") and appended unless the name
  already ends with it; counters lose a trailing "_total" and get "_total" back on their sample.
- push: OTLP -> the collector-contrib `prometheus` exporter with add_metric_suffixes (the default), whose rules
  live in the collector's Prometheus translator (normalize_name.go): the name split into tokens at every
  character outside [a-zA-Z0-9_:], the mapped unit appended unless it is already one of the tokens (units with
  "{...}" add nothing), "total" moved to the end for monotonic sums, "ratio" for gauges of unit "1".

Both give the same names for every metric in tracer/semconv.py (tests/grafana/test_names.py checks that, and
checks the scrape path against the installed exporter). Dashboards and tests derive names from here and
semconv, never by hand.
"""

from __future__ import annotations

import re

from tracer import semconv

# opentelemetry/exporter/prometheus/_mapping.py _UNIT_MAPPINGS (the collector uses the same table).
UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}  # fmt: skip
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"{.*}")


def label(attribute: str) -> str:
    """The Prometheus label an OpenTelemetry attribute becomes: `gen_ai.request.model` -> `gen_ai_request_model`.

    Both paths (and Tempo's span-metrics dimensions) sanitise this way."""
    if attribute and attribute[0].isdigit():
        attribute = "_" + attribute[1:]
    return _NOT_LABEL_CHAR.sub("_", attribute)


def unit_word(unit: str) -> str:
    """`s` -> `seconds`, `{token}` -> ``, `USD` -> `USD`, `By/s` -> `bytes_per_second`."""
    unit = _ANNOTATION.sub("", unit)
    if unit in UNIT_WORDS:
        return UNIT_WORDS[unit]
    top, sep, bottom = unit.partition("/")
    if sep and _NOT_NAME_CHAR.sub("_", bottom):
        top_word = UNIT_WORDS.get(_NOT_NAME_CHAR.sub("_", top), _NOT_NAME_CHAR.sub("_", top))
        bottom_word = PER_UNIT_WORDS.get(_NOT_NAME_CHAR.sub("_", bottom), _NOT_NAME_CHAR.sub("_", bottom))
        return f"{top_word}_per_{bottom_word}" if top_word else f"per_{bottom_word}"
    return _NOT_NAME_CHAR.sub("_", unit).strip("_")


def scrape_name(name: str, unit: str, kind: str) -> str:
    """The family name opentelemetry-exporter-prometheus exposes (before _bucket/_sum/_count/_total)."""
    base = name
    if base and base[0].isdigit():
        base = "_" + base[1:]
    base = _NOT_NAME_CHAR.sub("_", base)
    if kind == "counter" and base.endswith("_total"):
        base = base[: -len("_total")]
    word = unit_word(unit)
    if word and not base.endswith("_" + word):
        base += "_" + word
    return base


def collector_name(name: str, unit: str, kind: str) -> str:
    """The family name the collector's `prometheus` exporter exposes (before _bucket/_sum/_count)."""
    tokens = [t for t in re.split(r"[^a-zA-Z0-9_:]+", name) if t]
    tokens = [t for part in tokens for t in part.split("_") if t]
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    if main and "{" not in main and "}" not in main:
        word = re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:_]", "_", UNIT_WORDS.get(main, main))).lstrip("_")
        if word and word not in tokens:
            tokens.append(word)
    if per and "{" not in per and "}" not in per:
        word = re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:_]", "_", PER_UNIT_WORDS.get(per, per))).lstrip("_")
        if word and word not in tokens:
            tokens += ["per", word]
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    joined = "_".join(tokens)
    if joined and joined[0].isdigit():
        joined = "_" + joined
    return joined.removesuffix("_total") if kind == "counter" else joined


def series(name: str, unit: str, kind: str) -> tuple[str, ...]:
    """Every series name a metric is queried by: histograms' _bucket/_sum/_count, counters' _total."""
    base = scrape_name(name, unit, kind)
    if kind == "histogram":
        return (base + "_bucket", base + "_sum", base + "_count")
    if kind == "counter":
        return (base + "_total",)
    return (base,)


def tracer_series() -> dict[str, str]:
    """Prometheus series name -> the semconv metric it comes from, for every metric the tracer emits."""
    out: dict[str, str] = {}
    for metric, (kind, unit) in semconv.METRIC_INSTRUMENTS.items():
        for s in series(metric, unit, kind):
            out[s] = metric
    return out


def semconv_attributes() -> dict[str, str]:
    """Prometheus label -> attribute name, for every attribute name constant in tracer/semconv.py."""
    out: dict[str, str] = {}
    for key, value in vars(semconv).items():
        if key.isupper() and isinstance(value, str) and "." in value and not value.endswith("."):
            out[label(value)] = value
    for kind in semconv.RATELIMIT_KINDS:
        for field in semconv.RATELIMIT_FIELDS:
            attribute = semconv.ratelimit_attribute(kind, field)
            out[label(attribute)] = attribute
    return out


def all_semconv_names() -> set[str]:
    """Every dotted name in tracer/semconv.py (attributes, metrics), for TraceQL and config checks."""
    return set(semconv_attributes().values())
