"""`python -m bot` is the same as the `signalwatch` command."""

from bot.cli import main

raise SystemExit(main())
