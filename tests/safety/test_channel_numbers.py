"""tens.channels: the one place where an index (0, 1, …) becomes the number a person sees
(1, 2, …) and back. Every face uses it; these pin its words and its refusals."""

from __future__ import annotations

import pytest

from tens import channels


@pytest.mark.parametrize(("index", "text"), [(0, "1"), (1, "2"), (3, "4")])
def test_label_counts_from_one(index: int, text: str) -> None:
    assert channels.label(index) == text
    assert channels.number(index) == int(text)


@pytest.mark.parametrize(
    ("indexes", "text"),
    [
        ((), "no channel"),
        ((0,), "channel 1"),
        ((0, 2), "channels 1 and 3"),
        ((0, 1, 3), "channels 1, 2 and 4"),
    ],
)
def test_named(indexes: tuple[int, ...], text: str) -> None:
    assert channels.named(indexes) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "no channels"), (1, "channel 1"), (2, "channels 1–2"), (4, "channels 1–4")],
)
def test_span(count: int, text: str) -> None:
    assert channels.span(count) == text


@pytest.mark.parametrize(("text", "index"), [("1", 0), (" 2 ", 1), ("4", 3), ("12", 11)])
def test_parse_takes_what_a_person_types(text: str, index: int) -> None:
    assert channels.parse(text) == index
    assert channels.index(int(text)) == index


@pytest.mark.parametrize("text", ["0", "-1"])
def test_parse_refuses_zero_and_below_saying_where_numbering_starts(text: str) -> None:
    with pytest.raises(channels.ChannelNumberError, match="numbered from 1") as info:
        channels.parse(text)
    assert info.value.code == "bad_channel_number"


@pytest.mark.parametrize("text", ["", "one", "1.5", "0x1", "1e0"])
def test_parse_refuses_what_is_not_a_whole_number(text: str) -> None:
    with pytest.raises(channels.ChannelNumberError, match="not a whole number"):
        channels.parse(text)


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_index_refuses_what_is_not_an_int(value: object) -> None:
    with pytest.raises(channels.ChannelNumberError):
        channels.index(value)  # type: ignore[arg-type]
