"""The pure side of the admin commands (/watch, /source): checking input and describing results.

    edits    ids, queries, intervals, new signals and sources; Refused says why not
    text     what an edit changed, the audit log, fitting lines into one message
    preview  a draft query over recent items; a changed query's new and stopped alerts
    health   sources' health lines and what /source enable switches on

None of it imports discord: bot/chat/cogs/watch.py and source.py wire it to slash commands.
"""

from bot.admin.edits import (
    CLEAR,
    Refused,
    build_signal_spec,
    build_source_spec,
    derive_source_id,
    format_problems,
    parse_interval,
    query_problem,
    signal_changes,
)
from bot.admin.health import enable_record, format_source_list, source_line, switched_off
from bot.admin.preview import (
    EditPreview,
    PreviewItem,
    PreviewResult,
    format_edit_preview,
    format_preview,
    preview_edit,
    preview_items,
    preview_query,
    recent_items,
)
from bot.admin.text import (
    MESSAGE_LIMIT,
    code_span,
    describe_change,
    diff_fields,
    diff_text,
    fit_lines,
    format_history,
    history_line,
    json_safe,
)

__all__ = [
    "CLEAR",
    "MESSAGE_LIMIT",
    "EditPreview",
    "PreviewItem",
    "PreviewResult",
    "Refused",
    "build_signal_spec",
    "build_source_spec",
    "code_span",
    "derive_source_id",
    "describe_change",
    "diff_fields",
    "diff_text",
    "enable_record",
    "fit_lines",
    "format_edit_preview",
    "format_history",
    "format_preview",
    "format_problems",
    "format_source_list",
    "history_line",
    "json_safe",
    "parse_interval",
    "preview_edit",
    "preview_items",
    "preview_query",
    "query_problem",
    "recent_items",
    "signal_changes",
    "source_line",
    "switched_off",
]
