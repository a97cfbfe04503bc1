"""Time `tracer.cost.cost_of` per call (it runs for every span in the export thread) against genai-prices'
own `calc_price` on the same usage, in one run on this machine. Prints medians and the ratio.

    .venv/bin/python benchmarks/cost.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import timeit

from anthropic.types import Usage


def main() -> None:
    from genai_prices import Usage as GenaiUsage
    from genai_prices.data_snapshot import _bundled_snapshot

    from tracer.cost import cost_of, load_prices

    usage = Usage(
        input_tokens=1_200,
        output_tokens=350,
        cache_read_input_tokens=5_000,
        cache_creation_input_tokens=800,
        cache_creation={"ephemeral_5m_input_tokens": 800, "ephemeral_1h_input_tokens": 0},
        output_tokens_details={"thinking_tokens": 100},
        server_tool_use={"web_search_requests": 1, "web_fetch_requests": 0},
        service_tier="standard",
    )
    as_dict = usage.model_dump()
    genai_usage = GenaiUsage(input_tokens=7_000, cache_write_tokens=800, cache_read_tokens=5_000, output_tokens=350)
    snapshot = _bundled_snapshot()
    now = dt.datetime.now(dt.UTC)
    table = load_prices()
    cost_of("claude-sonnet-4-5-20250929", usage)  # warm the caches, as the export thread does after one span

    cases = {
        "cost_of, SDK Usage, dated ID": lambda: cost_of("claude-sonnet-4-5-20250929", usage),
        "cost_of, dict usage": lambda: cost_of("claude-sonnet-4-5-20250929", as_dict),
        "cost_of, Bedrock profile ID": lambda: cost_of("us.anthropic.claude-opus-4-6-v1:0", usage),
        "cost_of, batch + US-only": lambda: table.cost_of("claude-opus-4-6", usage, batch=True, inference_geo="us"),
        "cost_of, unknown model": lambda: cost_of("gpt-4o", usage),
        "genai-prices calc (reference)": lambda: snapshot.calc(
            genai_usage, "claude-sonnet-4-5-20250929", "anthropic", None, now
        ),
    }
    number = 5_000
    results = {}
    for name, fn in cases.items():
        runs = timeit.repeat(fn, number=number, repeat=7)
        results[name] = statistics.median(runs) / number * 1e6
    for name, micros in results.items():
        print(f"{name:34s} {micros:8.2f} us/call")
    base = results["cost_of, SDK Usage, dated ID"]
    print(f"genai-prices calc / cost_of: {results['genai-prices calc (reference)'] / base:.1f}x")


if __name__ == "__main__":
    main()
