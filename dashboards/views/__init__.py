"""The console pages, each a Streamlit script run by `dashboards/app.py` (a package so a wheel ships them)."""
