"""How a story's other outlets render: the "+N sources" field and the short follow-up."""

from __future__ import annotations

from test_render import alert

from bot.model import OutletCopy, StoryUpdate
from bot.render import FIELD_LIMIT, TOTAL_LIMIT, _size, alert_embed, story_followup_message


def also(n: int, name: str = "Outlet") -> tuple[OutletCopy, ...]:
    """`n` other outlets' copies, each linked."""
    return tuple(
        OutletCopy(f"{name} {i}", f"Copy {i}", f"https://o{i}.example/a") for i in range(n)
    )


def test_other_outlets_show_as_one_linked_field() -> None:
    """Two other outlets: a '+2 sources' field linking each copy."""
    embed = alert_embed(alert(also=also(2)))
    field = embed["fields"][-1]
    assert field["name"] == "+2 sources"
    assert field["value"] == ("[Outlet 0](https://o0.example/a) · [Outlet 1](https://o1.example/a)")


def test_a_story_alone_has_no_sources_field() -> None:
    """No other outlet: no '+N' field at all."""
    names = [f["name"] for f in alert_embed(alert())["fields"]]
    assert not any(name.startswith("+") for name in names)


def test_hundreds_of_outlets_stay_within_discord_limits() -> None:
    """500 outlets: the field is cut with '…and N more' inside 1024, the embed inside 6000."""
    embed = alert_embed(alert(also=also(500, "A rather long outlet name")))
    field = embed["fields"][-1]
    assert field["name"] == "+500 sources"
    assert len(field["value"]) <= FIELD_LIMIT and field["value"].endswith("more")
    assert _size(embed) <= TOTAL_LIMIT


def test_outlet_names_never_ping_and_bad_links_are_not_linked() -> None:
    """An outlet called '@everyone' is defused; a javascript: link is shown as plain text."""
    hostile = (OutletCopy("@everyone <@&123>", "x", "javascript:alert(1)"),)
    value = alert_embed(alert(also=hostile))["fields"][-1]["value"]
    assert "@everyone" not in value and "<@&123>" not in value
    assert "javascript:" not in value


def test_the_follow_up_names_the_story_and_its_outlets_and_pings_no_one() -> None:
    """The follow-up: '+N sources: title', 'Also reported by …', nothing parsed as a mention."""
    update = StoryUpdate(alert(also=also(3)), edit=None, reply_to="42")
    message = story_followup_message(update, "NATO spending hits 5%")
    (embed,) = message["embeds"]
    assert embed["title"] == "+3 sources: NATO allies agree 5% target"
    assert embed["description"].startswith("Also reported by [Outlet 0](https://o0.example/a)")
    assert embed["author"]["name"] == "NATO spending hits 5% · high"
    assert message["allowed_mentions"] == {
        "parse": [],
        "users": [],
        "roles": [],
        "replied_user": False,
    }


def test_the_console_says_one_source_in_the_singular() -> None:
    """A follow-up line for one more outlet reads "+1 source", for three "+3 sources"."""
    import asyncio
    import io

    from bot.sinks.console import ConsoleSink

    out = io.StringIO()
    sink = ConsoleSink("text", stream=out, colour=False)
    asyncio.run(sink.update(StoryUpdate(alert(also=also(1)), edit=None, reply_to=None)))
    asyncio.run(sink.update(StoryUpdate(alert(also=also(3)), edit=None, reply_to=None)))
    first, second = [line for line in out.getvalue().splitlines() if line.startswith("[")]
    assert "] +1 source: " in first and "] +3 sources: " in second
