"""The generated protobuf code is what proto/ generates today (like the TS gen check), and the
Python enums are the proto's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agentbus.reasons import Delivery, Reason, Verdict, reason_name
from agentbus.v1 import envelope_pb2

PY = Path(__file__).resolve().parents[1]


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_proto", PY / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fresh = mod.generate(tmp_path)
    assert [p.name for p in fresh] == ["envelope_pb2.py", "envelope_pb2.pyi"]
    for p in fresh:
        committed = PY / "src" / "agentbus" / "v1" / p.name
        assert committed.read_text() == p.read_text(), f"{committed} is stale: run python scripts/gen_proto.py"


def test_enums_match_the_proto() -> None:
    for enum, proto_name, prefix in ((Reason, "Reason", "REASON_"), (Verdict, "Verdict", "VERDICT_"), (Delivery, "Delivery", "DELIVERY_")):
        desc = envelope_pb2.DESCRIPTOR.enum_types_by_name[proto_name]
        assert {v.name.removeprefix(prefix): v.number for v in desc.values} == {m.name: m.value for m in enum}


def test_unknown_reason_numbers_are_named() -> None:
    assert reason_name(6) == "bad_signature"
    assert reason_name(999) == "reason_999"
