"""Everything that imports `discord`: the bot, its slash commands (one cog per feature), the
Discord sink and the admin notifier. The rest of signalwatch never imports `discord`.
"""
