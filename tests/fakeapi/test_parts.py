"""The pure parts under the server: outcome grammar, fault rates, token buckets, token counts and the prompt cache."""

from __future__ import annotations

import random

import pytest

from tracer.fakeapi import FaultRates, FaultSpecError, Outcome, RateLimiter, parse_outcome, parse_script, profile_for
from tracer.fakeapi._tokens import PromptCache, count_input_tokens


class TestOutcomes:
    @pytest.mark.parametrize(
        ("text", "outcome"),
        [
            ("ok", Outcome("ok")),
            ("429:10", Outcome("status", status=429, ms=10)),
            ("529", Outcome("status", status=529)),
            ("slow:250", Outcome("slow", ms=250)),
            ("drop", Outcome("drop")),
            ("drop:3", Outcome("drop", events=3)),
            ("stall:3", Outcome("stall", events=3)),
            ("error:2", Outcome("error", events=2)),
            ("cut:5", Outcome("cut", events=5)),
            (" MALFORMED ", Outcome("malformed")),
        ],
    )
    def test_each_spelling(self, text: str, outcome: Outcome) -> None:
        assert parse_outcome(text) == outcome
        assert parse_outcome(str(outcome)) == outcome  # str() spells it back

    @pytest.mark.parametrize("text", ["", "ok:1", "slow", "stall", "stall:x", "418", "429:-1", "boom"])
    def test_bad_spellings(self, text: str) -> None:
        with pytest.raises(FaultSpecError):
            parse_outcome(text)

    def test_script(self) -> None:
        assert [str(o) for o in parse_script("429:10, 429:10 ,ok")] == ["429:10", "429:10", "ok"]
        with pytest.raises(FaultSpecError):
            parse_script(" , ")


class TestFaultRates:
    def test_rates_are_drawn_in_proportion_and_reproducibly(self) -> None:
        rates = FaultRates.parse("429=0.05,529=0.02")
        draws = [str(rates.draw(random.Random(i))) for i in range(20_000)]
        assert draws == [str(rates.draw(random.Random(i))) for i in range(20_000)]
        assert draws.count("429") / len(draws) == pytest.approx(0.05, abs=0.008)
        assert draws.count("529") / len(draws) == pytest.approx(0.02, abs=0.005)

    def test_mapping_form_and_spelling(self) -> None:
        assert str(FaultRates.parse({"529": 0.1, "slow:2000": 0.2})) == "529=0.1,slow:2000=0.2"
        assert not FaultRates.parse(None) and not FaultRates.parse("")

    @pytest.mark.parametrize("spec", ["429", "429=x", "429=1.5", "429=0.6,529=0.6", "nope=0.1"])
    def test_bad_specs(self, spec: str) -> None:
        with pytest.raises(FaultSpecError):
            FaultRates.parse(spec)


class TestRateLimiter:
    def test_a_bucket_refills_at_limit_per_minute(self) -> None:
        now = [0.0]
        limiter = RateLimiter({"requests": 60}, clock=lambda: now[0])
        assert all(limiter.acquire({"requests": 1}).granted for _ in range(60))
        refused = limiter.acquire({"requests": 1})
        assert not refused.granted and refused.retry_after_s == 1 and refused.exceeded == "requests"
        now[0] += 2.5
        assert [limiter.acquire({"requests": 1}).granted for _ in range(3)] == [True, True, False]

    def test_all_or_nothing_across_kinds(self) -> None:
        limiter = RateLimiter({"requests": 10, "input_tokens": 100}, clock=lambda: 0.0)
        assert not limiter.acquire({"requests": 1, "input_tokens": 101}).granted
        headers = dict(limiter.headers())
        assert headers["anthropic-ratelimit-requests-remaining"] == "10"  # the refused request took nothing

    def test_unknown_kinds_are_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown rate limit kinds"):
            RateLimiter({"rpm": 5})


class TestTokens:
    def test_counts_are_consistent(self) -> None:
        small = count_input_tokens({"messages": [{"role": "user", "content": "hi"}]})
        block = count_input_tokens({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        assert small == block
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "xx"}}
        assert count_input_tokens({"messages": [{"role": "user", "content": [image]}]}) > 1500

    def test_cache_writes_at_each_breakpoint_then_reads_the_longest_prefix(self) -> None:
        cache = PromptCache(clock=lambda: 0.0)
        part = {"type": "text", "text": "x" * 8000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        tail = {"type": "text", "text": "y" * 8000, "cache_control": {"type": "ephemeral"}}
        two = {"messages": [{"role": "user", "content": [part, tail]}]}
        first = cache.account("m", two, 1024)
        assert (first.cache_write_1h, first.cache_write_5m, first.cache_read) == (2004, 2000, 0)
        again = cache.account("m", two, 1024)
        assert (again.cache_write, again.cache_read) == (0, 4004)
        assert first.total == again.total == count_input_tokens(two)

    def test_entries_expire_after_their_ttl(self) -> None:
        now = [0.0]
        cache = PromptCache(clock=lambda: now[0])
        body = {"system": [{"type": "text", "text": "x" * 8000, "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
        cache.account("m", body, 1024)
        now[0] += 299
        assert cache.account("m", body, 1024).cache_read == 2000  # and the read refreshes the 5 minutes
        now[0] += 299
        assert cache.account("m", body, 1024).cache_read == 2000
        now[0] += 301
        assert cache.account("m", body, 1024).cache_write_5m == 2000


class TestProfiles:
    def test_family_from_the_name(self) -> None:
        assert profile_for("claude-opus-4-8").family == "opus"
        assert profile_for("claude-haiku-4-5-20251001").family == "haiku"
        assert profile_for("claude-mythos-5").family == "opus"
        assert profile_for("claude-fable-5").family == "sonnet"
        assert profile_for("claude-haiku-4-5").ttft_s < profile_for("claude-opus-4-8").ttft_s
