"""``python -m app.ui [files...]`` opens the window."""

from app.ui.app import main

raise SystemExit(main())
