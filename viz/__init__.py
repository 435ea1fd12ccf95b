"""synack's viz half: reads captures, analyses them, draws figures. Never imports tracer.

The notebook API (`viz.load`, `viz.draw_ladder`, `viz.draw_layers`, `viz.draw_graph`, ...)
lives in viz.api and is imported on first use, so `import viz` costs nothing.
"""
# Never a submodule's name (ladder, layers, graph, ...): `from viz import layers` must find the module.
_API = ("Capture", "load", "analyse", "analyze", "draw_ladder", "draw_layers", "draw_graph", "save",
        "request", "render",
        "table_html")


def __getattr__(name: str):
    if name in _API:
        from viz import api

        return getattr(api, name)
    raise AttributeError(f"module 'viz' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
