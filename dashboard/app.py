"""claude-tracer dashboard: `tracer dashboard [--store DIR]`, or `streamlit run dashboard/app.py -- --store DIR`.

Installed as the package `claude_tracer_dashboard` (the folder `dashboard/` of the repository): a name no
application's own `dashboard` package collides with. Pages import their siblings by that name.

The entry script only sets the page up, draws the shared filters and hands over to the page the URL names.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from claude_tracer_dashboard import state

st.set_page_config(page_title="claude-tracer", page_icon=":material/monitoring:", layout="wide")

HERE = Path(__file__).parent
PAGES = [
    st.Page(HERE / "overview.py", title="Overview", icon=":material/payments:", url_path="overview", default=True),
    st.Page(HERE / "latency.py", title="Latency", icon=":material/timer:", url_path="latency"),
    st.Page(HERE / "reliability.py", title="Reliability", icon=":material/health_and_safety:", url_path="reliability"),
    st.Page(HERE / "calls.py", title="Calls", icon=":material/list_alt:", url_path="calls"),
    st.Page(HERE / "traces.py", title="Traces", icon=":material/account_tree:", url_path="traces"),
    st.Page(HERE / "conversations.py", title="Conversations", icon=":material/forum:", url_path="conversations"),
]

page = st.navigation(PAGES)
if state.store_state()[0] == "ok":
    state.sidebar_filters()
page.run()
