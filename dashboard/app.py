"""claude-tracer dashboard: `tracer dashboard [--store DIR]`, or `streamlit run dashboard/app.py -- --store DIR`.

Installed as the package `claude_tracer_dashboard` (the folder `dashboard/` of the repository): a name no
application's own `dashboard` package collides with. Pages import their siblings by that name.

The entry script only sets the page up, draws the shared filters and hands over to the page the URL names.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw

from claude_tracer_dashboard import state


def _icon() -> Image.Image:
    """The tab's icon, drawn here: Streamlit fetches a Material or emoji favicon from the internet, and a dashboard
    must work offline. Three rising bars in the charts' first colours."""
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, (height, colour) in enumerate(zip((24, 40, 56), ("#4e79a7", "#f28e2b", "#59a14f"), strict=True)):
        draw.rounded_rectangle((4 + 20 * i, 62 - height, 20 + 20 * i, 62), radius=3, fill=colour)
    return image


st.set_page_config(page_title="claude-tracer", page_icon=_icon(), layout="wide")

HERE = Path(__file__).parent
PAGES = [
    # The default page is served at "/" and its own url_path reserves the page's name, so "/overview" would be
    # "Page not found": a hidden twin of the same script answers there (bookmarks and shared links use it).
    st.Page(HERE / "overview.py", title="Overview", icon=":material/payments:", url_path="home", default=True),
    st.Page(HERE / "overview.py", title="Overview", icon=":material/payments:", url_path="overview", visibility="hidden"),
    st.Page(HERE / "latency.py", title="Latency", icon=":material/timer:", url_path="latency"),
    st.Page(HERE / "reliability.py", title="Reliability", icon=":material/health_and_safety:", url_path="reliability"),
    st.Page(HERE / "calls.py", title="Calls", icon=":material/list_alt:", url_path="calls"),
    st.Page(HERE / "traces.py", title="Traces", icon=":material/account_tree:", url_path="traces"),
    st.Page(HERE / "conversations.py", title="Conversations", icon=":material/forum:", url_path="conversations"),
    st.Page(HERE / "savings.py", title="Savings", icon=":material/savings:", url_path="savings"),
    st.Page(HERE / "budgets.py", title="Budgets", icon=":material/account_balance_wallet:", url_path="budgets"),
]

page = st.navigation(PAGES)
if state.store_state()[0] == "ok":
    state.sidebar_filters()
page.run()
