"""Slash-command cogs, one per feature: lookup, subscriptions, admin."""
