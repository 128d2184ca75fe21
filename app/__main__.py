"""``python -m app``: as ``aurascope`` — a command runs the command-line interface, no command opens the window."""

from app.launch import main

raise SystemExit(main())
