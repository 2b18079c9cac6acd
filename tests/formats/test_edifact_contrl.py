"""CONTRL acknowledgements (issue 13): the partners exactly as received, one answer per
interchange (repeats included), every error at its level with its syntax error code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.errors import InvalidRecords, RejectError
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_contrl import contrls
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.models import Issue
from tradelane.spec import EdifactFormat, RouteSpec
from tradelane.staging import Staged

UNB = "UNB+UNOC:3+5412345000013:14:REVERSE+4012345000009:14:INBOUND+261125:0815+REF1'"
MSG = "UNH+{ref}+ORDERS:D:96A:UN:EAN008'BGM+220+PO-{ref}+9'LIN+1'UNT+4+{ref}'"
GROUP = "UNG+ORDERS+5412345000013+4012345000009+261125:0815+G1+UN+D:96A'"


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", "records": "LIN", **fmt},
        "fields": {"line": {"source": "LIN.1"}}})


def write(tmp_path: Path, text: str | bytes, name: str = "in.edi") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return path


def answers(path: Path, *, error: RejectError | None = None, rejected: list | None = None,
            **fmt: object) -> dict[str, list[str]]:
    """name -> segments of each CONTRL, checked to be a valid interchange of one CONTRL."""
    f = route(**fmt).format
    assert isinstance(f, EdifactFormat)
    out = {}
    for name, data in contrls(Staged.file(path), f, error=error, rejected=rejected or []):
        answer = write(path.parent, data, "answer.edi")
        [msg] = iter_messages(SegmentStream(answer))  # our own reader and its rules accept it
        assert msg.type == "CONTRL"
        out[name] = data.decode(SegmentStream(answer).syntax.codec).split("'\n")[1:-1]
    return out


def failure(path: Path, **fmt: object) -> RejectError:
    with pytest.raises(RejectError) as info:
        list(EdifactReader().read(path, route(**fmt)))
    return info.value


def test_accepted_interchange_answered_with_the_partners_as_received(tmp_path: Path) -> None:
    path = write(tmp_path, UNB + MSG.format(ref="1") + "UNZ+1+REF1'")
    [(name, segments)] = answers(path).items()
    assert name == "CONTRL_5412345000013_REF1.edi"
    unb = segments[0].split("+")
    assert unb[:5] == ["UNB", "UNOC:3", "4012345000009:14:INBOUND",
                       "5412345000013:14:REVERSE", "261125:0815"]  # swapped, dated as received
    assert segments[1:4] == ["UNH+1+CONTRL:D:3:UN",
                             "UCI+REF1+5412345000013:14:REVERSE+4012345000009:14:INBOUND+7",
                             "UNT+3+1"]
    again = contrls(Staged.file(path), route().format)  # type: ignore[arg-type]
    assert again == contrls(Staged.file(path), route().format)  # type: ignore[arg-type]


def test_syntax_4_and_its_character_set_are_answered_in_kind(tmp_path: Path) -> None:
    unb = "UNB+UNOW:4+MÜLLER:ZZ+4012345000009:14+20261125:0815+REF1'"
    path = write(tmp_path, (unb + MSG.format(ref="1") + "UNZ+1+REF1'").encode("utf-8"))
    [segments] = answers(path).values()
    assert segments[0].startswith("UNB+UNOW:4+4012345000009:14+MÜLLER:ZZ+20261125:0815+")
    assert "UCI+REF1+MÜLLER:ZZ+4012345000009:14+7" in segments


def test_an_interchange_error_is_answered_in_uci(tmp_path: Path) -> None:
    path = write(tmp_path, UNB.replace("0815", "08h5") + MSG.format(ref="1") + "UNZ+1+REF1'")
    err = failure(path)
    [segments] = answers(path, error=err).values()
    assert "UCI+REF1+5412345000013:14:REVERSE+4012345000009:14:INBOUND+4+37+UNB+4:2" \
        in segments


def test_a_group_error_is_answered_in_ucf(tmp_path: Path) -> None:
    text = (UNB + GROUP.replace("UNG+ORDERS", "UNG+") + MSG.format(ref="1") + "UNE+1+G1'"
            "UNZ+1+REF1'")
    path = write(tmp_path, text)
    [segments] = answers(path, error=failure(path)).values()
    assert segments[2].endswith("+4")  # the interchange is refused with it
    assert "UCF+G1+5412345000013+4012345000009+4+13+UNG+1" in segments


def test_a_message_header_error_is_answered_in_ucm(tmp_path: Path) -> None:
    path = write(tmp_path, UNB + MSG.format(ref="M" * 15) + "UNZ+1+REF1'")
    [segments] = answers(path, error=failure(path)).values()
    assert f"UCM+{'M' * 15}+ORDERS:D:96A:UN:EAN008+4+39+UNH+1" in segments


def test_an_error_inside_a_message_is_answered_in_ucs(tmp_path: Path) -> None:
    text = UNB + MSG.format(ref="1").replace("LIN+1", "LIN+\xe9") + "UNZ+1+REF1'"
    path = write(tmp_path, text.replace("UNOC", "UNOA"))
    err = failure(path)
    assert err.segment_index == 4
    [segments] = answers(path, error=err).values()
    i = segments.index("UCM+1+ORDERS:D:96A:UN:EAN008+4")
    assert segments[i + 1] == "UCS+3+21"  # the message's 3rd segment: an invalid character


def test_a_file_level_error_refuses_every_interchange_with_it(tmp_path: Path) -> None:
    second = (UNB + MSG.format(ref="1") + "UNZ+1+REF1'").replace("REF1", "REF2")
    path = write(tmp_path, UNB + MSG.format(ref="1") + "UNZ+1+REF1'" + second)
    invalid = InvalidRecords([Issue("record 1", "line", "x", "type", "bad")], error_count=1)
    found = answers(path, error=invalid)
    assert [s[2].split("+")[-2:] for s in found.values()] == [["4", "18"], ["4", "18"]]


def test_only_the_interchange_holding_the_error_carries_it(tmp_path: Path) -> None:
    good = UNB + MSG.format(ref="1") + "UNZ+1+REF1'"
    bad = good.replace("REF1", "REF2").replace("UNT+4", "UNT+5")
    path = write(tmp_path, good + "\n" + bad)
    found = answers(path, error=failure(path))
    first, second = found.values()
    assert first[2].endswith("+4")  # refused with the file, no error of its own
    assert "UCM+1+ORDERS:D:96A:UN:EAN008+4+29+UNT+1" in second and "UCM" not in first[3]


def test_isolated_and_invalid_messages_get_a_ucm_each(tmp_path: Path) -> None:
    text = (UNB + GROUP + MSG.format(ref="1") + MSG.format(ref="2").replace("UNT+4", "UNT+5")
            + "UNE+2+G1'" + MSG.format(ref="3") + "UNZ+2+REF1'")
    path = write(tmp_path, text)
    [doc] = EdifactReader().read(path, route(isolate_messages=True))
    [failed] = doc.failed
    invalid = doc.source_rows[1]  # message 3, say its records failed the route's rules
    [segments] = answers(path, rejected=[failed.message, invalid]).values()
    assert segments[2].endswith("+7")
    assert segments[3:7] == ["UCM+3+ORDERS:D:96A:UN:EAN008+4+18",
                             "UCF+G1+5412345000013+4012345000009+7",
                             "UCM+2+ORDERS:D:96A:UN:EAN008+4+29+UNT+1",
                             "UNT+6+1"]


def test_a_repeated_interchange_gets_its_own_answer(tmp_path: Path) -> None:
    one = UNB + MSG.format(ref="1") + "UNZ+1+REF1'"
    path = write(tmp_path, one + one)
    # refused whole (no isolation): the repeat carries the duplicate, the first the refusal
    found = answers(path, error=failure(path))
    assert list(found) == ["CONTRL_5412345000013_REF1.edi", "CONTRL_5412345000013_REF1_2.edi"]
    first, repeat = found.values()
    assert first[2].endswith("+REF1+5412345000013:14:REVERSE+4012345000009:14:INBOUND+4")
    assert repeat[2].endswith("+4+26+UNB+5")
    assert first[0].split("+")[-1] != repeat[0].split("+")[-1]  # references of their own
    # isolated: the first is delivered and accepted, the repeat refused as a duplicate
    docs = list(EdifactReader().read(path, route(isolate_messages=True)))
    found = answers(path, rejected=[f.message for d in docs for f in d.failed])
    first, repeat = found.values()
    assert first[2].endswith("+7") and repeat[2].endswith("+4+26+UNB+5")
