"""`tracer reconcile`: a day of fake traffic, part of it made without claude-tracer watching, reconciles to the
cent on the instrumented part and shows the rest as unexplained. The fake API serves the Admin API's usage and cost
reports from the calls it answered; the reports are paged and a 429 is retried."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import anthropic
import httpx2
import pytest

import tracer
from tests.capture.conftest import API_KEY
from tracer.cli import main
from tracer.cost import cost_of
from tracer.cost._reconcile import COST_PATH, USAGE_PATH, reconciliation
from tracer.read import Store

ADMIN_KEY = "sk-ant-admin01-claude-tracer-reconcile-secret"
HAIKU, SONNET, FABLE, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-fable-5", "claude-opus-4-8"
HELLO = [{"role": "user", "content": "Say hello."}]


def uninstrumented(api: Any, model: str, workspace: str, text: str) -> Decimal:
    """A call made by a process claude-tracer does not watch (plain HTTP); its cost, as the API bills it."""
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01", "x-fake-workspace": workspace}
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    reply = httpx2.post(f"{api.base_url}/v1/messages", json=body, headers=headers).json()
    value = cost_of(model, reply["usage"])
    assert value is not None
    return value


@pytest.fixture
def day_of_traffic(fake_api: Any, telemetry: Any) -> dict[str, Decimal]:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url,
                                 default_headers={"x-fake-workspace": "team-a"})  # fmt: skip
    with tracer.tags(workspace="team-a"):
        for i in range(3):
            client.messages.create(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": f"q{i}"}])
            with client.messages.stream(model=SONNET, max_tokens=64, messages=HELLO) as s:
                s.get_final_message()
        client.beta.messages.create(  # a declined Fable hop (bio, billed) and the Opus answer: two models, one call
            model=FABLE, max_tokens=64, messages=HELLO, fallbacks=[{"model": OPUS}],
            extra_headers={"anthropic-beta": "server-side-fallback-2026-07-01", "x-fake-script": "refuse:bio"},
        )  # fmt: skip
    assert tracer.flush()
    return {
        "team-a haiku, unwatched": uninstrumented(fake_api, HAIKU, "team-a", "unwatched one"),
        "team-b sonnet, unwatched": uninstrumented(fake_api, SONNET, "team-b", "unwatched two"),
    }


def by_key(rows: list[Any]) -> dict[tuple[str, str | None], Any]:
    return {(r.model, r.workspace): r for r in rows}


class TestReconciliation:
    def test_instrumented_part_to_the_cent_and_the_rest_unexplained(
        self, fake_api: Any, telemetry: Any, day_of_traffic: dict[str, Decimal]
    ) -> None:
        sleeps: list[float] = []
        rows = reconciliation(Store(telemetry.store), since=dt.timedelta(days=1), base_url=fake_api.base_url,
                              admin_key=ADMIN_KEY, sleep=sleeps.append)  # fmt: skip
        got = by_key(rows)
        assert set(got) == {(HAIKU, "team-a"), (SONNET, "team-a"), (FABLE, "team-a"), (OPUS, "team-a"),
                            (SONNET, "team-b")}  # fmt: skip
        for model in (SONNET, FABLE, OPUS):  # everything claude-tracer watched: equal, tokens and dollars
            row = got[(model, "team-a")]
            assert row.our_usd > 0
            assert (row.diff_usd, row.unexplained_usd, row.our_tokens) == (0, 0, row.their_tokens), row
        haiku = got[(HAIKU, "team-a")]
        assert haiku.unexplained_usd == haiku.diff_usd == day_of_traffic["team-a haiku, unwatched"]
        team_b = got[(SONNET, "team-b")]
        assert (team_b.our_usd, team_b.unexplained_usd) == (0, day_of_traffic["team-b sonnet, unwatched"])
        assert "uninstrumented" in team_b.note
        assert sleeps == []

    def test_pages_are_followed_and_a_429_is_retried_after_its_retry_after(
        self, fake_api: Any, telemetry: Any, day_of_traffic: dict[str, Decimal]
    ) -> None:
        """Ten days at seven buckets a page: two pages per report; each page's first request gets a 429 with
        `retry-after: 1`, waited (here recorded) before the retry."""
        sleeps: list[float] = []
        rows = reconciliation(Store(telemetry.store), since=dt.timedelta(days=9), base_url=fake_api.base_url,
                              admin_key=ADMIN_KEY, sleep=sleeps.append, headers={"x-fake-script": "429:10,ok"})  # fmt: skip
        admin = [r for r in fake_api.requests if r.path in (USAGE_PATH, COST_PATH)]
        assert [(r.path, r.status, "page=" in r.query) for r in admin] == [
            (USAGE_PATH, 429, False), (USAGE_PATH, 200, False), (USAGE_PATH, 429, True), (USAGE_PATH, 200, True),
            (COST_PATH, 429, False), (COST_PATH, 200, False), (COST_PATH, 429, True), (COST_PATH, 200, True),
        ]  # fmt: skip
        assert sleeps == [1.0, 1.0, 1.0, 1.0]
        assert by_key(rows)[(SONNET, "team-b")].unexplained_usd == day_of_traffic["team-b sonnet, unwatched"]
        assert all(r.headers.get("x-api-key") == ADMIN_KEY for r in admin)


class TestCommand:
    def test_prints_rows_and_never_the_key(
        self, fake_api: Any, telemetry: Any, day_of_traffic: dict[str, Decimal], capsys: Any,
        caplog: Any, monkeypatch: Any,
    ) -> None:  # fmt: skip
        caplog.set_level(logging.DEBUG)
        monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", ADMIN_KEY)
        argv = ["reconcile", "--since", "1d", "--store", str(telemetry.store), "--base-url", fake_api.base_url]
        assert main([*argv, "--json"]) == 0
        out = capsys.readouterr().out
        rows = [json.loads(line) for line in out.splitlines()]
        unexplained = sum(Decimal(r["unexplained_usd"]) for r in rows)
        assert unexplained == sum(day_of_traffic.values())
        assert main(argv) == 0
        out += capsys.readouterr().out
        assert "unexplained in total" in out
        assert ADMIN_KEY not in out and ADMIN_KEY not in caplog.text

    def test_without_a_key_it_says_what_to_set(self, monkeypatch: Any, capsys: Any) -> None:
        monkeypatch.delenv("ANTHROPIC_ADMIN_API_KEY", raising=False)
        assert main(["reconcile"]) == 2
        assert "ANTHROPIC_ADMIN_API_KEY" in capsys.readouterr().err
