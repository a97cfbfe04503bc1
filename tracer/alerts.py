"""The alert conditions, each threshold defined once: Prometheus rules are generated from here, and the same
conditions are evaluated over the embedded store (`tracer report`, the dashboard's strip).

`deploy/prometheus/rules/claude-tracer.rules.yml` is `python -m tracer.alerts` (a test checks that the file in
the repository is exactly that): change a threshold here, regenerate, and both sides move together.

>>> from tracer import alerts
>>> [a.name for a in alerts.ALERTS][:2]
['ClaudeRateLimitedShareHigh', 'ClaudeOverloadedShareHigh']
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracer import _budgets, semconv

# -- thresholds: the one definition of each --------------------------------------------------------------------

RATE_LIMITED_SHARE = 0.05  # 429s among attempts
OVERLOADED_SHARE = 0.05  # 529s among attempts
SERVER_ERROR_SHARE = 0.05  # other 5xx among attempts
P95_LATENCY_S = 30.0  # p95 call duration per model
DAILY_BUDGET_USD = 100.0  # spend over the last hour, projected to a day
RATELIMIT_HEADROOM = 0.10  # remaining / limit, any kind (requests, tokens, input, output)
SHARE_WINDOW = dt.timedelta(minutes=10)  # shares and p95 are over this window
SPEND_WINDOW = dt.timedelta(hours=1)  # spend rate and unpriced calls are over this window
BREAKER_OPEN = 2  # the value of tracer.breaker.state for "open" (0 closed, 1 half-open)
# The spend anomaly and the budgets use tracer._budgets' definitions (the dashboard's Budgets page states them).
ANOMALY_SIGMAS = _budgets.ANOMALY_SIGMAS
# A projection to the period's end waits for this much of the period: the first minutes of a month say nothing.
PROJECTION_MIN_ELAPSED = {"day": dt.timedelta(hours=1), "month": dt.timedelta(days=1)}
# Spend so far in a period is summed over windows of this width (the last, partial one is not counted yet).
PERIOD_STEP = {"day": dt.timedelta(minutes=5), "month": dt.timedelta(hours=1)}


def _prom(metric: str, suffix: str = "") -> str:
    """The Prometheus series of a tracer metric: dots to underscores, the unit's word, `_total` on counters (the
    translation tests/grafana/promnames.py checks against both exporters)."""
    kind, unit = semconv.METRIC_INSTRUMENTS[metric]
    name = metric.replace(".", "_")
    word = {"s": "seconds", "USD": "USD"}.get(unit, "")
    if word:
        name += "_" + word
    if kind == "counter":
        name += "_total"
    return name + suffix


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


def _minutes(window: dt.timedelta) -> str:
    return f"{int(window.total_seconds() // 60)}m"


_ATTEMPTS = _prom(semconv.METRIC_ATTEMPTS)
_OUTCOME = _label(semconv.ATTEMPT_OUTCOME)  # `tracer._derived.attempt_outcome`: the store's `attempts.outcome` too
_MODEL = _label(semconv.GEN_AI_REQUEST_MODEL)
_BY_MODEL = f"job, {_MODEL}"
_W = _minutes(SHARE_WINDOW)
_UNPRICED = _prom(semconv.METRIC_UNPRICED_CALLS)
_DROPPED = _prom(semconv.METRIC_DROPPED)
_BY_STAGE = f"job, {_label(semconv.DROP_STAGE)}"


def _either(released: str, latest: str, suffix: str, selector: str, window: str) -> str:
    """`rate()` of a histogram under its released GenAI name or its newest one (OTEL_SEMCONV_STABILITY_OPT_IN), so
    a rule works whichever names the application emits. With both (`/dup`) the series share their labels and `or`
    keeps one of each; with the newest alone, the released name still carries the non-inference operations."""
    return (f"rate({_prom(released, suffix)}{selector}[{window}]) or rate({_prom(latest, suffix)}{selector}[{window}])")


def _spend(selector: str, window: str) -> str:
    return f"sum(increase({_prom(semconv.METRIC_COST)}{selector}[{window}]))"


# A UTC period's index (an hour, a day or a month) at the evaluation time, and of the window that ends at a
# subquery's step (`time() - 1`: the step at midnight closes the day before). Its residue tells consecutive periods
# apart: a 1h or 1d window spans at most two hours or days, a 31-day window at most three months.
_PERIOD_INDEX = {
    "hour": ("floor(vector(time()) / 3600)", "floor((vector(time()) - 1) / 3600)", 2),
    "day": ("floor(vector(time()) / 86400)", "floor((vector(time()) - 1) / 86400)", 2),
    "month": ("month()", "month(vector(time() - 1))", 3),
}


def _period_to_date(selector: str, period: str, window: str, step: str) -> str:
    """Spend since the current UTC `period` began: a subquery over the last `window` (the longest such period) sums
    the spend of each `step`, keeping the steps whose period is the current one. PromQL cannot name "since
    midnight" as a range, and a counter's value at midnight is not there after a restart; `increase()` is."""
    now, at_step, k = _PERIOD_INDEX[period]
    return " or ".join(
        f"(sum_over_time(({_spend(selector, step)} and on() ({at_step} % {k} == {j}))[{window}:{step}]) "
        f"and on() ({now} % {k} == {j}))"
        for j in range(k)
    )


def _hourly_baseline(fn: str) -> str:
    """`fn` (avg, stddev, count) over the spend of each of the last `BASELINE_HOURS` whole UTC hours."""
    return f"{fn}_over_time({_spend('', '1h')}[{_budgets.BASELINE_HOURS}h:1h])"


_HOUR_SO_FAR = _period_to_date("", "hour", "1h", "5m")
_ABOVE_MEAN = f"({_HOUR_SO_FAR}) - {_hourly_baseline('avg')}"


def _share(matcher: str) -> str:
    per = f"sum by ({_BY_MODEL}) (rate({_ATTEMPTS}[{_W}]))"
    return f"sum by ({_BY_MODEL}) (rate({_ATTEMPTS}{{{matcher}}}[{_W}])) / {per}"


@dataclass(frozen=True)
class Alert:
    """One condition: a recording rule (`record`, `expr`) and the alert that compares it with `threshold`."""

    name: str
    record: str
    expr: str
    op: str  # ">" or "<" or "=="
    threshold: float
    summary: str  # with {{ $labels.x }} and {{ $value }} for Alertmanager
    for_: str = "5m"
    severity: str = "warning"

    @property
    def alert_expr(self) -> str:
        return f"{self.record} {self.op} {_number(self.threshold)}"

    def fires(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.op == ">":
            return value > self.threshold
        if self.op == "<":
            return value < self.threshold
        return value == self.threshold


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(value)


ALERTS: tuple[Alert, ...] = (
    Alert("ClaudeRateLimitedShareHigh", f"claude:attempts_429:share{_W}", _share(f'{_OUTCOME}="429"'), ">",
          RATE_LIMITED_SHARE, "{{ $labels.gen_ai_request_model }}: {{ $value | humanizePercentage }} of attempts answered 429"),
    Alert("ClaudeOverloadedShareHigh", f"claude:attempts_529:share{_W}", _share(f'{_OUTCOME}="529"'), ">",
          OVERLOADED_SHARE, "{{ $labels.gen_ai_request_model }}: {{ $value | humanizePercentage }} of attempts answered 529 (overloaded)"),
    Alert("ClaudeServerErrorShareHigh", f"claude:attempts_5xx:share{_W}", _share(f'{_OUTCOME}="5xx"'), ">",
          SERVER_ERROR_SHARE, "{{ $labels.gen_ai_request_model }}: {{ $value | humanizePercentage }} of attempts answered 5xx (other than 529)"),
    Alert("ClaudeLatencyP95High", f"claude:call_duration_seconds:p95_{_W}",
          f"histogram_quantile(0.95, sum by ({_BY_MODEL}, le) "
          f"({_either(semconv.METRIC_OPERATION_DURATION, semconv.METRIC_INFERENCE_DURATION, '_bucket', '', _W)}))", ">",
          P95_LATENCY_S, "{{ $labels.gen_ai_request_model }}: p95 call latency {{ $value | humanizeDuration }}"),
    Alert("ClaudeSpendOverDailyBudget", "claude:cost_usd:projected_daily",
          f"sum by (job) (rate({_prom(semconv.METRIC_COST)}[{_minutes(SPEND_WINDOW)}])) * 86400", ">",
          DAILY_BUDGET_USD, "{{ $labels.job }}: the last hour's spend projects to ${{ $value | printf \"%.2f\" }} a day",
          for_="15m"),
    Alert("ClaudeCircuitBreakerOpen", "claude:breaker:state",
          f"max by (job, {_label(semconv.EVENT_NAME)}) ({_prom(semconv.METRIC_BREAKER_STATE)})", "==",
          BREAKER_OPEN, "circuit breaker {{ $labels.tracer_event_name }} is open", for_="1m", severity="critical"),
    Alert("ClaudeUnpricedCalls", f"claude:unpriced_calls:increase{_minutes(SPEND_WINDOW)}",
          # A counter whose series starts at 1 (a process's first unpriced call) shows no increase() at all, so a
          # series new within the window counts with its value.
          f"sum by ({_BY_MODEL}) (({_UNPRICED} unless {_UNPRICED} offset {_minutes(SPEND_WINDOW)}) "
          f"or increase({_UNPRICED}[{_minutes(SPEND_WINDOW)}]))", ">",
          0, "{{ $labels.gen_ai_request_model }}: {{ $value | printf \"%.0f\" }} calls without a price (their cost is unknown, not zero)",
          for_="0m", severity="info"),
    Alert("ClaudeRateLimitHeadroomLow", "claude:ratelimit:headroom",
          f"min by ({_BY_MODEL}, {_label(semconv.METRIC_ATTR_RATELIMIT_KIND)}) "
          f"({_prom(semconv.METRIC_RATELIMIT_REMAINING)} / {_prom(semconv.METRIC_RATELIMIT_LIMIT)})", "<",
          RATELIMIT_HEADROOM, "{{ $labels.gen_ai_request_model }}: {{ $labels.tracer_ratelimit_kind }} headroom "
          "{{ $value | humanizePercentage }}"),
    # The Budgets page's method (tracer._budgets.departure): this UTC hour's spend so far against the mean and
    # standard deviation of the 24 whole hours before it, recorded only with 6 of them and $0.01 above the mean.
    Alert("ClaudeSpendAnomaly", "claude:cost_usd:hour_sigmas_above_baseline",
          f"({_ABOVE_MEAN}) / {_hourly_baseline('stddev')} and on() ({_ABOVE_MEAN} >= {_budgets.ANOMALY_MIN_USD!r}) "
          f"and on() ({_hourly_baseline('count')} >= {_budgets.MIN_BASELINE_HOURS})", ">",
          ANOMALY_SIGMAS, "this hour's spend is {{ $value | printf \"%.1f\" }} standard deviations above the "
          f"mean of the {_budgets.BASELINE_HOURS} hours before it", for_="0m"),
    # claude-tracer's own pipeline dropped telemetry (a full queue, an exporter that failed for good): the spans and
    # metrics of that window are incomplete, though the application was not affected (docs/production.md, "Queues").
    # Counted from a process's first drop, as for unpriced calls.
    Alert("ClaudeTelemetryDropped", f"claude:tracer_dropped:increase{_W}",
          f"sum by ({_BY_STAGE}) (({_DROPPED} unless {_DROPPED} offset {_W}) or increase({_DROPPED}[{_W}]))", ">",
          0, "{{ $labels.job }}: claude-tracer dropped {{ $value | printf \"%.0f\" }} telemetry items at "
          "{{ $labels.tracer_drop_stage }} (the application is not affected; its telemetry is incomplete)",
          for_="0m"),
)  # fmt: skip


def rules_yaml() -> str:
    """The Prometheus rule file: one recording rule and one alert per condition."""
    lines = [
        "# Generated by `python -m tracer.alerts` from tracer/alerts.py (the one definition of each threshold).",
        "# Do not edit by hand: change tracer/alerts.py and regenerate; tests/grafana/test_alert_rules.py checks it.",
        "groups:",
        "  - name: claude-tracer-recording",
        "    rules:",
    ]
    for a in ALERTS:
        lines += [f"      - record: {a.record}", f"        expr: {_quote(a.expr)}"]
    lines += ["  - name: claude-tracer-alerts", "    rules:"]
    for a in ALERTS:
        lines += [
            f"      - alert: {a.name}",
            f"        expr: {_quote(a.alert_expr)}",
            f"        for: {a.for_}",
            "        labels:",
            f"          severity: {a.severity}",
            "        annotations:",
            f"          summary: {_quote(a.summary)}",
        ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- budgets: rules generated from the budgets the dashboard reads (TRACER_BUDGETS, TRACER_BUDGET_USD_PER_*) -------

BUDGET_RULES_FILE = "deploy/prometheus/rules/claude-tracer-budgets.rules.yml"
BUDGET_ALERTS = ("ClaudeBudgetExceeded", "ClaudeBudgetProjectedOver")
_PERIOD_WINDOW = {"day": "1d", "month": "31d"}  # the longest such period: the subquery always reaches its start


def _tag_label(key: str) -> str:
    """The label a `tracer.tags` key becomes on the cost counter (chosen with TRACER_METRIC_TAGS)."""
    return re.sub(r"[^a-zA-Z0-9]+", "_", semconv.TAG_PREFIX + key)


def budget_id(budget: _budgets.Budget) -> str:
    """The `budget` label of a budget's series: what it counts and per what, not its amount (which is edited)."""
    return f"{budget.tag or 'all'}, per {budget.per}"


def _budget_selector(budget: _budgets.Budget) -> str:
    if not budget.tag:
        return ""
    key, _, value = budget.tag.partition("=")
    return "{" + _tag_label(key) + '="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"}'


def _elapsed(period: str) -> str:
    """Seconds from the period's start to the end of its last whole step (what the spend so far covers)."""
    step = int(PERIOD_STEP[period].total_seconds())
    into_day = f"(floor(vector(time()) / {step}) * {step}) % 86400"
    return into_day if period == "day" else f"(day_of_month() - 1) * 86400 + {into_day}"


def _projected(period: str) -> str:
    whole = "86400" if period == "day" else "scalar(days_in_month() * 86400)"
    least = int(PROJECTION_MIN_ELAPSED[period].total_seconds())
    return (f'claude:budget:spent_usd{{period="{period}"}} * {whole} / scalar({_elapsed(period)}) '
            f"and on() ({_elapsed(period)} >= {least})")  # fmt: skip


def budget_rules_yaml(budgets: Sequence[_budgets.Budget], source: str = "") -> str:
    """The Prometheus rules of `budgets`: each budget's amount as a parameter (`claude:budget_usd`), its spend so
    far in the current UTC day or month, the projection to the period's end (the Budgets page's method: a straight
    line at the period's average rate), and two alerts: a budget used up, and a budget projected over."""
    lines = [
        f"# Generated by `python -m tracer.alerts budgets{' ' + source if source else ''}` from the budgets the dashboard",
        "# and `tracer report` read (TRACER_BUDGETS, TRACER_BUDGET_USD_PER_DAY / _PER_MONTH; docs/production.md, Budgets).",
        "# The parameters are the `claude:budget_usd` rules: each budget's amount in USD, `vector(N)`. Change an amount",
        "# there, or change the budgets file and regenerate. A budget for a tag value needs that tag key among the cost",
        "# counter's labels (TRACER_METRIC_TAGS). Tests: claude-tracer-budgets.rules.test.yml (promtool test rules).",
        "groups:",
        "  - name: claude-tracer-budgets",
        "    rules:",
    ]
    if not budgets:
        lines.append("      # no budget configured: the rules below have nothing to compare")

    def rule(record: str, expr: str, labels: dict[str, str]) -> None:
        nonlocal lines
        lines += [f"      - record: {record}", f"        expr: {_quote(expr)}"]
        if labels:
            lines.append("        labels:")
            lines += [f"          {k}: {_quote(v)}" for k, v in labels.items()]

    for b in budgets:
        rule("claude:budget_usd", f"vector({_number(b.usd)})", {"budget": budget_id(b), "period": b.per})
    for b in budgets:
        window, step = _PERIOD_WINDOW[b.per], _minutes_or_hours(PERIOD_STEP[b.per])
        rule("claude:budget:spent_usd", _period_to_date(_budget_selector(b), b.per, window, step),
             {"budget": budget_id(b), "period": b.per})  # fmt: skip
    for period in ("day", "month"):
        rule("claude:budget:projected_usd", _projected(period), {"period": period})
    rule("claude:budget:used_ratio", "claude:budget:spent_usd / claude:budget_usd", {})
    rule("claude:budget:projected_ratio", "claude:budget:projected_usd / claude:budget_usd", {})
    lines += ["  - name: claude-tracer-budget-alerts", "    rules:"]
    alerts_ = (
        ("ClaudeBudgetExceeded", "claude:budget:used_ratio >= 1", "0m", "critical",
         "{{ $labels.budget }}: {{ $value | humanizePercentage }} of the budget spent this {{ $labels.period }}"),
        ("ClaudeBudgetProjectedOver", "claude:budget:projected_ratio > 1 unless on(budget) claude:budget:used_ratio >= 1",
         "15m", "warning",
         "{{ $labels.budget }}: projected to {{ $value | humanizePercentage }} of the budget by the end of the "
         "{{ $labels.period }}"),
    )  # fmt: skip
    for name, expr, for_, severity, summary in alerts_:
        lines += [
            f"      - alert: {name}",
            f"        expr: {_quote(expr)}",
            f"        for: {for_}",
            "        labels:",
            f"          severity: {severity}",
            "        annotations:",
            f"          summary: {_quote(summary)}",
        ]
    return "\n".join(lines) + "\n"


def _minutes_or_hours(step: dt.timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


# -- the same conditions over the embedded store ----------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One condition evaluated over the store: what it is about (`subject`: a model, a breaker, "all"), its value,
    the threshold, and whether the alert would fire."""

    alert: str
    subject: str
    value: float | None
    threshold: float
    firing: bool
    text: str


def _by_name() -> dict[str, Alert]:
    return {a.name: a for a in ALERTS}


def evaluate(store: Any, *, now: dt.datetime | None = None) -> list[Finding]:
    """Every condition of `ALERTS` over the store at `now` (default: the present), using only its public views
    (`calls`, `attempts`, `events`). Firing findings first. Never raises for a store without data: a condition that
    cannot be computed is left out.

    The windows are those of the Prometheus rules; what Prometheus would hold for `for:` before firing is not
    modelled (the store answers "is the condition true now").
    """
    end = now or dt.datetime.now(dt.UTC)
    alerts = _by_name()
    out: list[Finding] = []

    def add(name: str, subject: str, value: Any, text: str) -> None:
        a = alerts[name]
        v = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        out.append(Finding(name, subject, v, a.threshold, a.fires(v), text))

    share_start = end - SHARE_WINDOW
    for row in _rows(store, _SHARES_SQL, [share_start, end]):
        model, attempts, r429, r529, r5xx = row
        if not attempts:
            continue
        model = model or "(no model)"
        add("ClaudeRateLimitedShareHigh", model, r429 / attempts, f"{model}: {r429 / attempts:.1%} of attempts answered 429")
        add("ClaudeOverloadedShareHigh", model, r529 / attempts, f"{model}: {r529 / attempts:.1%} of attempts answered 529")
        add("ClaudeServerErrorShareHigh", model, r5xx / attempts, f"{model}: {r5xx / attempts:.1%} of attempts answered 5xx")
    for model, p95_ms in _rows(store, _P95_SQL, [share_start, end]):
        if p95_ms is not None:
            model = model or "(no model)"
            add("ClaudeLatencyP95High", model, p95_ms / 1000, f"{model}: p95 call latency {p95_ms / 1000:.1f} s")
    spend_start = end - SPEND_WINDOW
    spent = _rows(store, _SPEND_SQL, [spend_start, end])
    if spent and spent[0][0] is not None:
        daily = float(spent[0][0]) * (86400 / SPEND_WINDOW.total_seconds())
        add("ClaudeSpendOverDailyBudget", "all", daily, f"the last hour's spend projects to ${daily:,.2f} a day")
    for name, state in _rows(store, _BREAKERS_SQL, [end]):
        value = BREAKER_OPEN if state == "open" else 0
        add("ClaudeCircuitBreakerOpen", name, value, f"circuit breaker {name} is {state}")
    for model, calls in _rows(store, _UNPRICED_SQL, [spend_start, end]):
        add("ClaudeUnpricedCalls", model or "(no model)", calls, f"{model}: {calls} calls without a price")
    for model, requests, tokens in _rows(store, _HEADROOM_SQL, [share_start, end]):
        for kind, share in (("requests", requests), ("tokens", tokens)):
            if share is not None:
                add("ClaudeRateLimitHeadroomLow", f"{model or '(no model)'} {kind}", share,
                    f"{model}: {kind} headroom {share:.1%}")  # fmt: skip
    hour = end.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    baseline_start = hour - dt.timedelta(hours=_budgets.BASELINE_HOURS)
    by_hour = {_utc_hour(h): float(usd or 0) for h, usd in _rows(store, _HOURLY_SPEND_SQL, [baseline_start, end])}
    if by_hour:
        first = _rows(store, _FIRST_CALL_SQL, [])
        known_from = _utc_hour(first[0][0]) if first and first[0][0] is not None else hour
        # Hours without calls are $0, once the store has calls at all (before its first, they are unknown).
        history = [by_hour.get(h, 0.0) for h in _hours(baseline_start, hour) if h >= known_from]
        so_far = by_hour.get(hour, 0.0)
        sigmas = _budgets.departure(so_far, history)
        if sigmas is not None:
            add("ClaudeSpendAnomaly", "all", sigmas,
                f"this hour's spend ${so_far:,.2f} is {sigmas:.1f} sd above the mean of the {len(history)} hours before it")  # fmt: skip
    out.sort(key=lambda f: (not f.firing, f.alert, f.subject))
    return out


def _utc_hour(value: Any) -> dt.datetime:
    when = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return when.replace(minute=0, second=0, microsecond=0)


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    return [start + dt.timedelta(hours=i) for i in range(int((end - start) / dt.timedelta(hours=1)))]


def _rows(store: Any, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    try:
        frame = store.sql(query, params)
    except Exception:  # a view or column this store does not have: the condition is left out
        return []
    return [tuple(None if _missing(v) else v for v in row) for row in frame.itertuples(index=False, name=None)]


def _missing(value: Any) -> bool:
    try:
        return bool(value != value) or value is None  # NaN, NaT, pd.NA
    except Exception:
        return value is None


# Plain SQL over the store's public views (the contract in DESIGN.md), so that this module depends on no query
# helper's internals; each window is [start, end).
_SHARES_SQL = """
SELECT c.model, count(*) AS attempts,
       count(*) FILTER (WHERE a.outcome = '429') AS r429,
       count(*) FILTER (WHERE a.outcome = '529') AS r529,
       count(*) FILTER (WHERE a.outcome = '5xx') AS r5xx
FROM attempts a JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id
WHERE a.start_time >= ? AND a.start_time < ?
GROUP BY c.model ORDER BY c.model
"""
_P95_SQL = """
SELECT model, quantile_cont(duration_ms, 0.95) AS p95_ms FROM calls
WHERE start_time >= ? AND start_time < ? AND duration_ms IS NOT NULL
GROUP BY model ORDER BY model
"""
_SPEND_SQL = "SELECT sum(cost_usd) FROM calls WHERE start_time >= ? AND start_time < ?"
_HOURLY_SPEND_SQL = """
SELECT date_trunc('hour', start_time AT TIME ZONE 'UTC') AS hour, sum(cost_usd) AS usd FROM calls
WHERE start_time >= ? AND start_time < ? GROUP BY 1 ORDER BY 1
"""
_FIRST_CALL_SQL = "SELECT min(start_time) FROM calls"
_BREAKERS_SQL = f"""
SELECT name, arg_max(to_state, time) AS state FROM events
WHERE kind = '{semconv.EVENT_KIND_BREAKER_TRANSITION}' AND time < ?
GROUP BY name ORDER BY name
"""
# Unpriced as capture and the writer decided it (`calls.unpriced`, with its reason), as every page reads it.
_UNPRICED_SQL = """
SELECT model, count(*) AS calls FROM calls
WHERE start_time >= ? AND start_time < ? AND coalesce(unpriced, false)
GROUP BY model ORDER BY model
"""
# The latest response's headroom per model: the rules' gauge holds the last value too.
_HEADROOM_SQL = """
SELECT c.model,
       arg_max(a.ratelimit_requests_remaining / nullif(a.ratelimit_requests_limit, 0), a.start_time) AS requests,
       arg_max(a.ratelimit_tokens_remaining / nullif(a.ratelimit_tokens_limit, 0), a.start_time) AS tokens
FROM attempts a JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id
WHERE a.start_time >= ? AND a.start_time < ? AND a.ratelimit_requests_limit IS NOT NULL
GROUP BY c.model ORDER BY c.model
"""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tracer.alerts`: the rules file; `python -m tracer.alerts budgets [FILE.toml]`: the budgets' rules
    (from FILE, else the environment the dashboard reads)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["budgets"]:
        environ = {_budgets.ENV_FILE: args[1]} if len(args) > 1 else None
        sys.stdout.write(budget_rules_yaml(_budgets.load(environ), source=args[1] if len(args) > 1 else ""))
        return 0
    sys.stdout.write(rules_yaml())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
