"""``python -m eoxai.audit``: see :mod:`eoxai.audit.cli`."""

from eoxai.audit.cli import main

raise SystemExit(main())
