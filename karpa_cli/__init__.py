"""The command line, `karpa`: the top layer, the flows' caller (DESIGN.md, Layers).

`main.py` builds the parser and runs commands; `models.py` adds `karpa predict` and
`karpa models history`. Heavy libraries are imported inside commands.
"""
