"""The command line, `karpa`: the top layer, the flows' caller (DESIGN.md, Layers).

`main.py` builds the parser and runs commands; `models.py` adds `karpa predict` and
`karpa models history`, `search.py` adds `karpa search`; `supervised.py` runs a flow as
both `karpa run` and `karpa search` do (run lock, embedded API, closing what a stopped run
left open; `sigterm.py` its watchdog). Heavy libraries are imported inside commands.
"""
