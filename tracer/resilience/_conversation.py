"""Conversation compaction: past a token threshold, old turns are replaced by a summary; tokens saved recorded."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracer import semconv
from tracer.resilience import _telemetry
from tracer.resilience._budget import estimate_input_tokens

log = logging.getLogger("tracer.resilience")

Message = Mapping[str, Any]
Summariser = Callable[[list[Message]], "str | Awaitable[str]"]
TokenCounter = Callable[[list[Message]], int]

SUMMARY_PREFIX = "Summary of the earlier conversation:\n"
DEFAULT_PROMPT = (
    "Summarise the conversation above for the assistant that will continue it: keep every fact, decision, name, "
    "number and open question it will need; drop pleasantries. Write the summary only."
)


class ClaudeSummariser:
    """A summariser backed by Claude: one `messages.create` on a small model, sync or async client.

    >>> compactor = ConversationCompactor(ClaudeSummariser(anthropic.Anthropic(), model="claude-haiku-4-5"))
    """

    def __init__(
        self, client: Any, *, model: str = "claude-haiku-4-5", max_tokens: int = 1024, prompt: str = DEFAULT_PROMPT
    ) -> None:
        self.client = client
        self.model = model
        self.max_tokens = max_tokens
        self.prompt = prompt

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        transcript = "\n\n".join(f"{m.get('role', 'user').upper()}: {_text_of(m.get('content'))}" for m in messages)
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [
                {"role": "user", "content": f"<conversation>\n{transcript}\n</conversation>\n\n{self.prompt}"}
            ],
        }

    def __call__(self, messages: list[Message]) -> Any:
        result = self.client.messages.create(**self._request(messages))
        if inspect.isawaitable(result):
            return _await_text(result)
        return _message_text(result)


async def _await_text(result: Awaitable[Any]) -> str:
    return _message_text(await result)


def _message_text(message: Any) -> str:
    return "".join(getattr(block, "text", "") for block in message.content if getattr(block, "type", None) == "text")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, Mapping):
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_use":
                parts.append(f"[tool call {block.get('name')}: {block.get('input')}]")
            elif block.get("type") == "tool_result":
                parts.append(f"[tool result: {_text_of(block.get('content'))}]")
        elif getattr(block, "type", None) == "text":
            parts.append(block.text)
    return "\n".join(parts)


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or ())


def _is_tool_result(message: Message) -> bool:
    content = message.get("content")
    return not isinstance(content, str) and any(
        (b.get("type") if isinstance(b, Mapping) else getattr(b, "type", None)) == "tool_result" for b in content or ()
    )


@dataclass(frozen=True)
class Compaction:
    """What one `compact` did: the new message list and the token counts before and after."""

    messages: list[Message]
    tokens_before: int
    tokens_after: int
    turns_summarised: int

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


class ConversationCompactor:
    """Keeps a conversation under `threshold_tokens`: older turns become one summary, the last turns stay verbatim.

    >>> compactor = ConversationCompactor(ClaudeSummariser(client), threshold_tokens=20_000, keep_last=6)
    >>> messages = compactor.compact(messages)            # unchanged while under the threshold
    >>> client.messages.create(model=..., max_tokens=..., messages=messages)

    `summarise(old_messages) -> str` may be any callable (sync, or async with `acompact`); `count_tokens(messages)`
    defaults to an estimate (~3.5 characters a token; pass one using `client.messages.count_tokens` to be
    exact). The summary goes at the start of the first kept user turn, so roles still alternate, and a cut never
    separates a tool_use from its tool_result. Each compaction is a `conversation_summarised` event with tokens
    before, after and saved.
    """

    def __init__(
        self,
        summarise: Summariser,
        *,
        threshold_tokens: int = 20_000,
        keep_last: int = 6,
        count_tokens: TokenCounter | None = None,
        name: str = "conversation",
    ) -> None:
        self.summarise = summarise
        self.threshold_tokens = threshold_tokens
        self.keep_last = keep_last
        self.count_tokens: TokenCounter = count_tokens or (lambda messages: estimate_input_tokens(messages))
        self.name = name

    def _cut(self, messages: Sequence[Message]) -> int:
        """Index of the first kept message: a user turn that is not a tool result, leaving >= keep_last after it."""
        for i in range(len(messages) - self.keep_last, 0, -1):
            if messages[i].get("role") == "user" and not _is_tool_result(messages[i]):
                return i
        return 0

    def plan(self, messages: Sequence[Message]) -> tuple[int, int]:
        """(tokens now, cut index); cut 0 means nothing to do."""
        tokens = self.count_tokens(list(messages))
        if tokens <= self.threshold_tokens:
            return tokens, 0
        return tokens, self._cut(messages)

    def _assemble(self, messages: Sequence[Message], cut: int, summary: str, before: int) -> Compaction:
        first = messages[cut]
        merged = {
            **first,
            "content": [{"type": "text", "text": SUMMARY_PREFIX + summary.strip()}, *_blocks(first.get("content"))],
        }
        new = [merged, *messages[cut + 1 :]]
        after = self.count_tokens(new)
        result = Compaction(new, before, after, cut)
        _telemetry.event(
            semconv.EVENT_KIND_SUMMARISED,
            self.name,
            reason=f"{before} tokens > {self.threshold_tokens}",
            attributes={
                "tokens_before": before,
                "tokens_after": after,
                "tokens_saved": result.tokens_saved,
                "turns_summarised": cut,
                "turns_kept": len(new),
            },
        )
        return result

    def compact_with_stats(self, messages: Sequence[Message]) -> Compaction:
        """Like `compact`, returning the token counts too."""
        before, cut = self.plan(messages)
        if cut == 0:
            return Compaction(list(messages), before, before, 0)
        summary = self.summarise(list(messages[:cut]))
        if inspect.isawaitable(summary):
            if inspect.iscoroutine(summary):
                summary.close()  # never awaited: close it rather than leave a warning behind
            raise TypeError("this summariser is async: use `await compactor.acompact(messages)`")
        return self._assemble(messages, cut, summary, before)

    def compact(self, messages: Sequence[Message]) -> list[Message]:
        """The messages to send: unchanged under the threshold, else a summary plus the last turns."""
        return self.compact_with_stats(messages).messages

    async def acompact_with_stats(self, messages: Sequence[Message]) -> Compaction:
        before, cut = self.plan(messages)
        if cut == 0:
            return Compaction(list(messages), before, before, 0)
        summary = self.summarise(list(messages[:cut]))
        if inspect.isawaitable(summary):
            summary = await summary
        return self._assemble(messages, cut, str(summary), before)

    async def acompact(self, messages: Sequence[Message]) -> list[Message]:
        """`compact` for async summarisers (an `AsyncAnthropic`-backed `ClaudeSummariser`)."""
        return (await self.acompact_with_stats(messages)).messages
