"""The name of a user's network in code: ``package.module:callable``. No torch, so sessions and dialogs can check it."""

from __future__ import annotations

import re

#: ``package.module:callable`` (the callable may be dotted: ``module:Class.build``)
MODULE_SOURCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
