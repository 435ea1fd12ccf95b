from tracer import signals

signals.install_default()  # before the CLI's imports: a signal there is one line, not a traceback

import sys  # noqa: E402

from tracer.cli import main  # noqa: E402

sys.exit(main())
