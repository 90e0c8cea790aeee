"""Alert destinations: the console (text or JSON lines), and Discord in `bot.chat`."""

from bot.sinks.console import ConsoleNotifier, ConsoleSink, alert_json

__all__ = ["ConsoleNotifier", "ConsoleSink", "alert_json"]
