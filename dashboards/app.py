"""The asrwatch console: `streamlit run dashboards/app.py` (or `asrwatch console`).

One page per audience. The API URL and read token come from `ASRWATCH_CONSOLE_API` and
`ASRWATCH_CONSOLE_TOKEN`; the sidebar's time range, "as of" and slice filters apply to every page.
"""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` adds only this folder

from dashboards import ui  # noqa: E402

HERE = Path(__file__).parent / "views"
PAGES = [
    st.Page(HERE / "executive.py", title="Executive", url_path="executive", default=True),
    st.Page(HERE / "oncall.py", title="On-call", url_path="oncall"),
    st.Page(HERE / "debug.py", title="Debug", url_path="debug"),
    st.Page(HERE / "model_owner.py", title="Model owner", url_path="model_owner"),
    st.Page(HERE / "rollouts.py", title="Rollouts", url_path="rollouts"),
]

st.set_page_config(page_title="asrwatch console", layout="wide")
ui.wrap_metric_tiles()  # every page's tiles wrap rather than cut their labels short
page = st.navigation(PAGES)
ui.sidebar()
page.run()
