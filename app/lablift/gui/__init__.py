"""The desktop app (PySide6). Thin over core/: every pane reads and writes through core functions.

app.py starts it, main_window.py holds the panes, workers.py runs long work off the GUI thread,
tablemodels.py and charts.py are the shared views panes build on.
"""
