from tracer import signals

signals.install_default()  # before the CLI's imports: a signal there is one line, not a traceback

import sys  # noqa: E402

try:
    from tracer.cli import script
except KeyboardInterrupt:
    print("synack: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(script())
