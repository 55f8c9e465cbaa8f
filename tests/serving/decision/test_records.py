"""Decision.canonical_json: the audit trail's fast encoding must carry exactly what the general encoder would."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from types import MappingProxyType

import msgspec
import pytest

from serving.decision.audit import AuditLog, Encoded, encode_payload
from serving.decision.records import Action, Decision, HoldReason


def _decision(**changes: object) -> Decision:
    base = Decision(
        decision_id="BTC-PERP:1:BTC-PERP-0000000001:champion",
        symbol="BTC-PERP",
        timestamp_ns=1_641_347_940_000_000_000,
        action=Action.BUY,
        position_size=0.25,
        previous_position=-0.1,
        entry_price=46_001.5,
        exit_price=math.nan,
        confidence=0.8484262347014897,
        expected_return=1.7983125261026968e-05,
        risk_score=0.25,
        strategy="momentum",
        regime="trending_up",
        hold_reason=HoldReason.NONE,
        propensity=0.95,
        model_versions={"regime": "r/1", "bandit": "b/2", "actor": "a/3"},
        features={"ret_1": -0.00025991466281610287, "vol_30": math.nan, "spread_bps": 1e22},
        latency_us=12.5,
    )
    return msgspec.structs.replace(base, **changes)


def test_canonical_json_given_finite_decision_returns_the_general_encoders_content() -> None:
    decision = _decision()

    text = decision.canonical_json()

    assert text is not None
    assert json.loads(text) == json.loads(encode_payload(decision.to_dict()))
    assert list(json.loads(text)) == sorted(decision.to_dict())


def test_canonical_json_given_non_finite_number_or_explanation_returns_none() -> None:
    assert _decision(confidence=math.nan).canonical_json() is None
    assert _decision(latency_us=math.inf).canonical_json() is None
    assert _decision(explanation={"top_features": []}).canonical_json() is None


def test_append_given_encoded_payload_stores_its_text_unchanged_in_an_intact_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    text = _decision().canonical_json()
    assert text is not None

    log.append("decision", Encoded(text))
    log.append("note", {"b": 1, "a": [1.5]})

    records = list(log.records())
    assert [r.payload for r in records] == [text, '{"a":[1.5],"b":1}']
    assert log.verify() is None


def test_canonical_json_given_nan_features_and_read_only_versions_returns_to_dicts_sorted_bytes() -> None:
    # The audit stores and hashes this text: byte for byte what encoding ``to_dict`` with sorted keys gives.
    sorted_encoder = msgspec.json.Encoder(order="sorted")
    cases = [
        _decision(),
        _decision(features={}, model_versions=MappingProxyType({"b": "2", "a": "1"})),
        _decision(entry_price=math.inf, exit_price=-math.inf, features={"z": math.inf, "a": -0.0, "m": 5e-324}),
        _decision(features=MappingProxyType({"b": math.nan, "a": 1.0}), position_size=-0.0, action=Action.SELL),
        _decision(hold_reason=HoldReason.WARMING_UP, risk_reason='quote "wide"\n', vetoed=True, explored=True),
    ]

    for decision in cases:
        assert decision.canonical_json() == sorted_encoder.encode(decision.to_dict()).decode()


TIMESTAMPS = [
    0,
    1,
    999,
    1_500,
    999_999_999,
    -1_500_000_001,
    -86_400_000_000_000,
    1_641_347_940_000_000_000,
    1_641_347_940_123_456_789,
    1_700_000_000_000_000_500,
    3_999_999_999_000_000_000,
    4_000_000_000_000_000_000,
]


@pytest.mark.parametrize("timestamp_ns", TIMESTAMPS)
def test_to_dict_given_any_timestamp_returns_event_time_isoformat(timestamp_ns: int) -> None:
    decision = _decision(timestamp_ns=timestamp_ns)

    assert decision.to_dict()["event_time"] == decision.event_time.isoformat()
    assert decision.to_dict()["event_time"] == decision.event_time.isoformat()  # again, from the cache


def test_to_dict_given_finite_or_non_finite_features_returns_a_copy_with_none_for_non_finite() -> None:
    finite = {"a": 1.0, "b": -2.5, "c": 0}
    huge = {"a": 1e308, "b": 1e308}  # the sum overflows; each value is finite

    assert _decision(features=finite).to_dict()["features"] == finite
    assert _decision(features=finite).to_dict()["features"] is not finite
    assert _decision(features=huge).to_dict()["features"] == huge
    assert _decision(features={"a": math.nan, "b": math.inf, "c": 1.0}).to_dict()["features"] == {
        "a": None,
        "b": None,
        "c": 1.0,
    }
    text = _decision(position_size=1e308, previous_position=1e308).canonical_json()
    assert text is not None
    assert json.loads(text)["position_size"] == 1e308


def test_canonical_json_given_exit_price_text_in_a_string_field_puts_event_time_in_its_sorted_place() -> None:
    decision = _decision(decision_id='x,"exit_price":1', symbol=',"exit_price":')

    text = decision.canonical_json()

    assert text == msgspec.json.Encoder(order="sorted").encode(decision.to_dict()).decode()


def test_decision_given_assignment_or_pickle_stays_frozen_and_round_trips() -> None:
    decision = _decision(entry_price=1.0, exit_price=2.0, features={"a": 1.0})

    with pytest.raises(AttributeError):
        decision.symbol = "ETH-PERP"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(decision)) == decision
