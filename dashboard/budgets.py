"""Budgets: spend in the current day or month against each configured budget, its projection to the period's end,
when the budget runs out, and hours whose spend departs from their trailing baseline (methods stated on the page).
Budgets are configured in the dashboard's environment (`tracer.read.budgets`: TRACER_BUDGETS and friends)."""

from __future__ import annotations

import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer.read import budgets

CONFIGURE = """[[budget]]            # a TOML file named by TRACER_BUDGETS
usd = 500
per = "month"          # or "day" (UTC)

[[budget]]
usd = 20
per = "day"
tag = "customer=acme"  # optional: only the calls with this tag"""


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    now = state.now()
    st.caption(f"As of {now:%Y-%m-%d %H:%M:%S} UTC. Budgets count every call of their period (and tag), whatever the "
               "filters on the left; the hourly spend below follows the model, service and tag filters.")  # fmt: skip
    try:
        configured = budgets.load()
    except ValueError as exc:
        st.error(f"The budgets could not be read: {exc}")
        configured = []
    if not configured:
        st.info("No budget is configured. Set `TRACER_BUDGET_USD_PER_MONTH=500` (or `_PER_DAY`) for the whole spend, or "
                "name a TOML file of budgets in `TRACER_BUDGETS`, then restart `tracer dashboard`:",
                icon=":material/savings:")  # fmt: skip
        st.code(CONFIGURE, language="toml")
    else:
        found = state.run_of(budgets.status, configured, now)
        first = found.iloc[0]
        cols = st.columns(4)
        cols[0].metric(f"Spent this {first['per']}", state.usd(first["spent_usd"]), help=str(first["budget"]))
        cols[1].metric("Budget", state.usd(first["usd"]))
        cols[2].metric(f"Projected to the {first['per']}'s end", state.usd(first["projected_usd"]),
                       state.change(first["projected_usd"], first["usd"]), delta_color="inverse",
                       help="Change: against the budget")  # fmt: skip
        runs_out = first["runs_out"]
        cols[3].metric("Runs out", "not this period" if runs_out is None or str(runs_out) == "NaT"
                       else f"{runs_out.tz_convert(state.zone()):%b %d %H:%M}")  # fmt: skip
        for _, row in found[found["exceeded"] | found["projected_over"]].iterrows():
            verb = "is over" if row["exceeded"] else "is projected over"
            st.warning(f"**{row['budget']}** {verb} its budget: {state.usd(row['spent_usd'])} spent, "
                       f"{state.usd(row['projected_usd'])} projected.", icon=":material/warning:")  # fmt: skip
        st.caption(budgets.PROJECTION_METHOD)
        state.table(found, "budgets_table", hide=("usd", "per", "tag"))

    hourly = state.run_of(budgets.hourly_spend, filters, now)
    st.plotly_chart(charts.hourly_spend(hourly), key="hourly_spend")
    flagged = hourly[hourly["anomaly"]]
    if not flagged.empty:
        st.error(f"{len(flagged)} hour(s) spent far above their trailing baseline: "
                 + ", ".join(f"{h.tz_convert(state.zone()):%b %d %H:00} ({state.usd(u)})"
                             for h, u in zip(flagged["hour"], flagged["spend_usd"], strict=True)),
                 icon=":material/trending_up:")  # fmt: skip
    st.caption(f"Anomaly: {budgets.ANOMALY_METHOD}")


if state.ready():
    st.title("Budgets")
    state.live(panels)
