"""Windows end at now (issue 24, item 5): calls stamped in the future by a host whose clock runs fast are not in
"the last 24 hours"; they are counted as clock skew instead (the read layer's `clock_skew`, `tracer store info`)."""

from __future__ import annotations

import datetime as dt
import time

from tracer import semconv
from tracer.cli import main
from tracer.read import Filters, Store, overview, store_info
from tracer.store._rows import day_of, row_tuple_from_span_data
from tracer.store.segments import write_rows

HOUR_NS = 3_600 * 10**9


def write_calls(root, offsets_h: list[float], service: str = "api") -> None:
    """One ok call per offset (hours from now; positive is the future), priced at $0.01 each."""
    now = time.time_ns()
    for i, hours in enumerate(offsets_h):
        start = now + int(hours * HOUR_NS)
        _, row = row_tuple_from_span_data(
            {semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL, semconv.GEN_AI_OPERATION_NAME: "chat",
             semconv.GEN_AI_REQUEST_MODEL: "claude-haiku-4-5", semconv.GEN_AI_USAGE_INPUT_TOKENS: 10,
             semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5, semconv.COST_USD_EXACT: "0.01"},
            name=semconv.SPAN_MESSAGES_CREATE, trace_id=i + 1, span_id=i + 1, parent_span_id=None, start_ns=start,
            end_ns=start + 10**9, service_name=service,
        )  # fmt: skip
        write_rows(root, "calls", [row], day_of(start // 1000))


def test_a_window_with_a_start_ends_at_now(tmp_path):
    write_calls(tmp_path, [-2, -1, 1, 30])
    store = Store(tmp_path)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)
    assert int(overview.headline(store, Filters(start=since))["calls"].iloc[0]) == 2
    assert int(overview.headline(store, Filters())["calls"].iloc[0]) == 4  # no window: everything


def test_future_calls_are_counted_as_clock_skew(tmp_path):
    write_calls(tmp_path, [-1, 1, 30], service="fast-clock")
    skew = overview.clock_skew(Store(tmp_path), Filters())
    assert skew.to_dict("records")[0]["calls"] == 2
    assert skew["service_name"].tolist() == ["fast-clock"]
    assert store_info(tmp_path)["calls"]["clock_skew_rows"] == 2


def test_report_since_24h_leaves_the_future_out(tmp_path, capsys):
    write_calls(tmp_path, [-1, 1])
    assert main(["report", "--store", str(tmp_path), "--since", "24h"]) == 0
    out = capsys.readouterr().out
    assert "$0.01" in out and "$0.02" not in out
