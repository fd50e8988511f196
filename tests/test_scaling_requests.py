"""A size or height the user names is the displayed picture's (vsr.scaling.coded_request)."""

from __future__ import annotations

from types import SimpleNamespace

from vsr.scaling import coded_request


def test_a_quarter_turned_clip_gets_the_request_turned_too():
    phone = SimpleNamespace(width=64, height=48, rotation=90)  # shown 48 wide, 64 high
    assert coded_request(phone, (480, 640), None) == ((640, 480), None)
    assert coded_request(phone, None, 128) == ((128, 96), None)
    assert coded_request(phone, None, 70) == ((70, 52), None)  # 52.5 made even
    assert coded_request(SimpleNamespace(width=64, height=48, rotation=270), None, 96) == (
        (96, 72),
        None,
    )
    assert coded_request(phone, None, None) == (None, None)


def test_an_upright_or_upside_down_clip_keeps_the_request():
    for rotation in (0, 180):
        clip = SimpleNamespace(width=64, height=48, rotation=rotation)
        assert coded_request(clip, (480, 640), None) == ((480, 640), None)
        assert coded_request(clip, None, 96) == (None, 96)
