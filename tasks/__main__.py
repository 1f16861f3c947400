"""``python -m kanbench.tasks``: the task lister (same as ``kanbench-tasks``)."""

import sys

from . import main

sys.exit(main())
