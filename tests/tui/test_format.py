"""The TUI's pure rendering: bars, charts, words, and the view state folding events."""

from __future__ import annotations

from tens.events import (
    Decision,
    LinkState,
    OutputDelivered,
    Refused,
    SessionEnded,
    SessionState,
    Snapshot,
    Source,
    StateChanged,
)
from tui import format as fmt
from tui.view_state import ViewState
from tui.widgets.pain.nrs_picker import scale_line


def test_duration() -> None:
    assert fmt.duration(None) == "--:--"
    assert fmt.duration(0) == "00:00"
    assert fmt.duration(133.4) == "02:13"
    assert fmt.duration(3725) == "1:02:05"
    assert fmt.duration(-5) == "00:00"


def test_bar_fills_against_full_scale_and_marks_target() -> None:
    assert fmt.bar(10, 40, 8) == "██░░░░░░"
    assert fmt.bar(0, 40, 4) == "░░░░"
    assert fmt.bar(50, 40, 4) == "████"  # clamped, never wider than the bar
    assert fmt.bar(10, 40, 8, marker=20) == "██░│░░░░"
    assert fmt.bar(30, 40, 8, marker=20) == "██████░░"  # marker under the fill is not drawn


def test_chart_rows_scale_to_the_limit_not_the_data() -> None:
    rows = fmt.chart_rows([0, 10, 20, 40], full_scale=40, height=2)
    assert rows == ["   █", " ▄██"]
    # the same 10 mA looks the same height whatever else is in the window
    alone = [row[0] for row in fmt.chart_rows([10, 10], 40, 2)]
    beside_a_peak = [row[0] for row in fmt.chart_rows([10, 40], 40, 2)]
    assert alone == beside_a_peak == [" ", "▄"]


def test_bucket_max_keeps_peaks_and_holds_between_samples() -> None:
    samples = [(0.0, 5.0), (10.0, 8.0), (11.0, 2.0), (25.0, 0.0)]
    cols = fmt.bucket_max(samples, now=30.0, span_s=30.0, n=3)
    # [0,10): 5 · [10,20): peak 8 (then 2) · [20,30): held 2 until 25, then 0 -> 2
    assert cols == [5.0, 8.0, 2.0]
    # nothing in the window: the value before it holds
    assert fmt.bucket_max([(0.0, 4.0)], now=100.0, span_s=30.0, n=2) == [4.0, 4.0]
    assert fmt.bucket_max([], now=10.0, span_s=30.0, n=2) == [0.0, 0.0]


def test_words_read_without_colour() -> None:
    assert fmt.contact_text(()) == "contact ?"
    assert fmt.contact_text((True,)) == "contact ok"
    assert fmt.contact_text((True, False)) == "contact 1 ok · 2 OFF"
    assert fmt.battery_text(12) == "battery 12% LOW"
    assert fmt.battery_text(None) == "battery ?"
    assert fmt.state_word(SessionState.RAMPING) == "RAMPING UP"
    assert scale_line(3).split()[3] == "[3]"
    assert "[" not in scale_line(None)


def _snap(**kw: object) -> Snapshot:
    base: dict[str, object] = {"link": LinkState.CONNECTED, "session": SessionState.READY}
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_view_state_logs_refusals_links_and_endings() -> None:
    view = ViewState()
    view.apply(StateChanged(_snap()), at="08:00:00", now=0.0)
    view.apply(StateChanged(_snap(session=SessionState.RUNNING)), at="08:00:01", now=1.0)
    view.apply(OutputDelivered(1.5, (3.0, 2.0)), at="08:00:01", now=1.5)
    assert view.delivered_max == 3.0 and view.output_may_be_on
    refusal = Decision(Source.TUI, "step", 41.0, None, "refused", ("above the peak limit",))
    view.apply(Refused(refusal), at="08:00:02", now=2.0)
    assert view.last_refusal == "step: above the peak limit"
    view.apply(
        StateChanged(_snap(link=LinkState.LOST, session=SessionState.ABORTED, delivered=(0.0,))),
        at="08:00:03",
        now=3.0,
    )
    view.apply(SessionEnded(1, SessionState.ABORTED, "link lost"), at="08:00:03", now=3.0)
    texts = [line.render() for line in view.log]
    assert texts == [
        "08:00:00 Link connected",
        "08:00:01 Session running",
        "08:00:02 ! REFUSED step: above the peak limit",
        "08:00:03 !! Link LOST",
        "08:00:03 ! Session aborted: link lost",
    ]
    assert view.last_refusal is None
    assert not view.output_may_be_on


def test_view_keeps_only_what_the_chart_window_needs() -> None:
    from tui.view_state import CHART_SPAN_S

    view = ViewState()
    everything = []
    for i in range(1000):
        value = float(i % 7)
        everything.append((float(i), value))
        view.apply(OutputDelivered(float(i), (value,)), at="08:00:00", now=float(i))
    assert view.samples[0][0] < 999 - CHART_SPAN_S <= view.samples[1][0]  # one before
    assert len(view.samples) <= CHART_SPAN_S + 2
    # pruning changes nothing the chart shows
    assert view.chart(999.0, 40) == fmt.bucket_max(everything, 999.0, CHART_SPAN_S, 40)


def test_the_gauge_names_each_channel_counted_from_1() -> None:
    """Issue 18.8: the first channel is ch1 in the TUI, as on every face."""
    from tens.events import LinkState, Snapshot
    from tui.widgets.session.gauge import gauge_info

    snap = Snapshot(LinkState.CONNECTED, SessionState.RUNNING, target=3.0, limit=40.0)
    assert gauge_info(snap, (3.0, 0.0)).splitlines()[-1] == "ch1 3.0 mA · ch2 0.0 mA"
    assert fmt.contact_text((None, True, False)) == "contact 1 ? · 2 ok · 3 OFF"
