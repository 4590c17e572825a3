"""``python -m eoxai.audit``: see :mod:`eoxai.audit`."""

from eoxai.audit import main

raise SystemExit(main())
