"""Conversations: the calls that share a conversation id (`tracer.conversation`), newest first, and one conversation
turn by turn (`?conversation=<id>` opens it): cost, latency, cache read and write, cache misses flagged."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer.read import runs

TURN_COLUMNS = ("turn", "cache", "start_time", "model", "status", "duration_ms", "ttft_ms", "input_tokens",
                "cache_read_tokens", "cache_write_tokens", "output_tokens", "cost_usd", "tool_names", "run")  # fmt: skip


MISS = "⚠ miss: written again"


def _cache(turn: dict[str, object]) -> str:
    """What the cache did on one turn, in words (a miss stands out in the table)."""
    if turn.get("cache_rewrite"):
        return MISS
    if (turn.get("cache_read_tokens") or 0) > 0:  # type: ignore[operator]
        return "hit"
    if (turn.get("cache_write_tokens") or 0) > 0:  # type: ignore[operator]
        return "written"
    return "–"


def _label(row: pd.Series) -> str:
    n = int(row["cache_rewrites"])
    misses = f" · {n} cache miss{'es' if n > 1 else ''}" if n else ""
    return f"{row['conversation_id']} · {state.count(row['turns'])} turns · {state.usd(row['cost_usd'])}{misses}"


def one_conversation(found: pd.DataFrame) -> None:
    labels = {row["conversation_id"]: _label(row) for _, row in found.iterrows()}
    wanted = st.query_params.get("conversation")
    options = list(labels)
    if wanted and wanted not in labels:
        options.insert(0, wanted)  # a shared link to a conversation outside this list still opens it
    if not options:
        st.info("No conversations in this window. Calls made inside `with tracer.conversation(id):` (or by a client "
                'with `open_telemetry={"conversation_id": id}`) are grouped here.')  # fmt: skip
        return
    conversation = st.selectbox("Conversation", options, index=options.index(wanted) if wanted in options else 0,
                                format_func=lambda c: labels.get(c, c), key="conversation_choice")  # fmt: skip
    if st.query_params.get("conversation") != conversation:
        st.query_params["conversation"] = conversation

    turns = state.run_of(runs.conversation_turns, conversation)
    if turns.empty:
        st.warning(f"No conversation `{conversation}` in this store.")
        return
    turns = turns.assign(cost_usd=pd.to_numeric(turns["cost_usd"], errors="coerce").astype("float64"))
    misses = turns[turns["cache_rewrite"].fillna(False).astype(bool)]
    cols = st.columns(5)
    cols[0].metric("Turns", state.count(len(turns)))
    cols[1].metric("Cost", state.usd(turns["cost_usd"].sum(min_count=1)))
    cols[2].metric("Latency per turn (median)", state.ms(turns["duration_ms"].median()))
    read = turns["cache_read_tokens"].sum()
    cols[3].metric("Cache read tokens", shown := state.tile_count(read), help=state.exactly(shown, state.count(read)).strip() or None)
    cols[4].metric("Cache misses", state.count(len(misses)), help="Turns that wrote their cached prefix again: it changed or expired")
    if not misses.empty:
        st.warning(
            f"Cache miss on turn{'s' if len(misses) > 1 else ''} {', '.join(str(int(t)) for t in misses['turn'])}: the "
            "cached prefix was written again (at the cache-write price) instead of read. A system prompt or tool list "
            "that changes between turns, or a pause longer than the cache's lifetime, does this.",
            icon=":material/cached:",
        )
    st.plotly_chart(charts.conversation_turns(turns, state.colours()), key="conversation_turns")
    shown = turns.assign(run=state.links("traces", "trace", turns["trace_id"]), cache=[_cache(r) for r in turns.to_dict("records")])
    state.table(shown[list(TURN_COLUMNS)], "turns_table", links={"run": r"trace=([0-9a-f]{8})"})


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    found = state.run_of(runs.conversations, filters)
    shown = found.assign(conversation=state.links("conversations", "conversation", found["conversation_id"]))
    first = ["cost_usd", "conversation", "turns", "cache_rewrites"]  # cost first: who spent it
    shown = shown[[*first, *[c for c in shown.columns if c not in (*first, "conversation_id")]]]
    state.table(shown, "conversations_table", links={"conversation": r"conversation=([^&]+)"})
    st.subheader("One conversation")
    one_conversation(found)


if state.ready():
    st.title("Conversations")
    state.live(panels)
