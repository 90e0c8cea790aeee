"""Running signalwatch as an operator sees it: settings errors, logs, the start-up banner and
cycle line, metrics, and the HTTP server for health, metrics and the status page.

Everything here but `bot.ops.http` (the server) and `bot.ops.metrics` (prometheus-client)
is pure: it renders text from values handed in.
"""
