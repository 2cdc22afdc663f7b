"""The demo that `sellerverify serve` tells a newcomer to run onboards a seller end to end
against a real server, with the sample photos and generators that ship in the checkout."""

from __future__ import annotations

import pytest
from sellerverify.demo import run_demo


def test_the_demo_onboards_a_seller_end_to_end(sqlite_server, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    with sqlite_server.client("admin") as client:
        assert run_demo(client) == 0
    out = capsys.readouterr().out
    assert "no sample photos found" not in out
    assert "verdict: PASS" in out or "verdict: VERDICT_PASS" in out or "'VERDICT_PASS'" in out, out[-3000:]
    for step in ("read the seller's ID card", "match the live face", "the challenge photo", "CS rep reviews"):
        assert step in out, out[-3000:]
    assert "MATCH_DECISION_MATCH" in out


def test_a_second_demo_on_the_same_data_says_why_its_photo_is_refused(  # type: ignore[no-untyped-def]
    sqlite_server, capsys: pytest.CaptureFixture[str]
) -> None:
    # The demo's challenge photo is the same sample every run: once it has answered a
    # challenge on this server, the replay check refuses it, and the demo says so.
    with sqlite_server.client("admin") as client:
        run_demo(client)
        capsys.readouterr()
        assert run_demo(client) == 0
    out = capsys.readouterr().out
    assert "REPLAYED_IMAGE" in out or "replay" in out, out[-3000:]
    assert "run the demo on a fresh SELLERVERIFY_DATA_DIR" in out, out[-3000:]
