"""Framing unit tests and the encoder throughput measurement."""


import pytest

from breakout_kit.gateway.wire.protocol import (
    BadFrame,
    Fields,
    FrameReader,
    ProtocolError,
    encode,
    parse_version_range,
)


def test_encode_fields():
    msg = encode(50, 3, 7, 1795444200, 240.99, True, False, None, "x")
    assert msg[:4] == (len(msg) - 4).to_bytes(4, "big")
    assert msg[4:] == b"50\x003\x007\x001795444200\x00240.99\x001\x000\x00\x00x\x00"


def test_frame_reader_partial_reads():
    stream = b"".join(encode(i, "a", 1.5) for i in range(50))
    reader = FrameReader()
    got = []
    for k in range(0, len(stream), 3):
        got += reader.feed(stream[k:k + 3])
    assert got == [[str(i), "a", "1.5"] for i in range(50)]
    assert reader.pending == 0


@pytest.mark.parametrize("data", [b"\x00\x00\x00\x00", b"\x7f\xff\xff\xffxx"])
def test_frame_reader_rejects_lengths_that_lose_the_stream(data):
    with pytest.raises(ProtocolError):
        FrameReader().feed(data)


@pytest.mark.parametrize("bad", [b"\x00\x00\x00\x02ab", b"\x00\x00\x00\x03\xff\xfe\x00"])
def test_frame_reader_keeps_step_after_an_unreadable_frame(bad):
    got = FrameReader().feed(bad + encode(49, 1))
    assert isinstance(got[0], BadFrame)
    assert got[1:] == [["49", "1"]]


def test_fields_cursor():
    f = Fields(["20", "5", "", "x"])
    assert f.int() == 5 and f.int(default=-1) == -1
    with pytest.raises(ProtocolError, match="not an integer"):
        f.int()
    with pytest.raises(ProtocolError, match="truncated"):
        f.str()


def test_version_range():
    assert parse_version_range("v157..176") == (157, 176, "")
    assert parse_version_range("v100..200 +PACEAPI") == (100, 200, "+PACEAPI")
    with pytest.raises(ProtocolError):
        parse_version_range("157..176")
