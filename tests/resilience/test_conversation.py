"""ConversationCompactor: past the threshold, old turns become one summary; roles alternate; tokens saved recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tracer import semconv
from tracer.resilience import ConversationCompactor
from tracer.resilience._conversation import SUMMARY_PREFIX


def turns(n: int, size: int = 400) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * size} for i in range(n)]


def summariser(calls: list[list[Any]]) -> Any:
    def summarise(messages: list[Any]) -> str:
        calls.append(messages)
        return f"{len(messages)} earlier turns about x"

    return summarise


class TestCompaction:
    def test_under_the_threshold_nothing_changes_and_the_summariser_is_not_called(self) -> None:
        calls: list[list[Any]] = []
        compactor = ConversationCompactor(summariser(calls), threshold_tokens=10_000)
        messages = turns(6)
        assert compactor.compact(messages) == messages
        assert calls == []

    def test_old_turns_become_a_summary_in_front_of_the_kept_user_turn(self, recorded: Any) -> None:
        calls: list[list[Any]] = []
        compactor = ConversationCompactor(summariser(calls), threshold_tokens=500, keep_last=4, name="chat")
        messages = turns(12)
        out = compactor.compact_with_stats(messages)
        assert calls == [messages[:8]]  # the 8 oldest turns summarised, the last 4 kept verbatim
        assert out.messages[1:] == messages[9:]
        first = out.messages[0]
        assert first["role"] == "user"
        assert first["content"][0]["text"] == SUMMARY_PREFIX + "8 earlier turns about x"
        assert first["content"][1]["text"] == messages[8]["content"]
        assert [m["role"] for m in out.messages] == ["user", "assistant", "user", "assistant"]
        assert out.tokens_saved == out.tokens_before - out.tokens_after > 0
        (event,) = recorded.events(semconv.EVENT_KIND_SUMMARISED, "chat")
        assert event[semconv.EVENT_ATTRIBUTE_PREFIX + "tokens_saved"] == out.tokens_saved
        assert event[semconv.EVENT_ATTRIBUTE_PREFIX + "turns_summarised"] == 8

    def test_a_cut_never_separates_a_tool_use_from_its_result(self) -> None:
        calls: list[list[Any]] = []
        messages = [
            *turns(6),
            {"role": "user", "content": "look it up " + "x" * 400},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "search", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found"}]},
            {"role": "assistant", "content": "here it is"},
        ]
        out = ConversationCompactor(summariser(calls), threshold_tokens=100, keep_last=2).compact(messages)
        # keep_last=2 would start at the tool_result; the cut moves back to the user turn that asked
        assert out[1:] == messages[7:]
        assert out[0]["content"][1]["text"].startswith("look it up")

    def test_a_custom_token_counter_decides(self) -> None:
        calls: list[list[Any]] = []
        compactor = ConversationCompactor(summariser(calls), threshold_tokens=5, keep_last=2, count_tokens=len)
        assert compactor.compact(turns(4)) == turns(4)  # 4 messages <= 5
        assert len(compactor.compact(turns(8))) == 2

    async def test_async_summarisers_with_acompact(self) -> None:
        async def summarise(messages: list[Any]) -> str:
            return "async summary"

        compactor = ConversationCompactor(summarise, threshold_tokens=100, keep_last=2)
        out = await compactor.acompact(turns(10))
        assert out[0]["content"][0]["text"].endswith("async summary")
        with pytest.raises(TypeError):
            compactor.compact(turns(10))
