"""evcc setter rules (pure, no broker): paths, types, ranges, cross checks, exact payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.errors import ValidationError
from evkit.evcc.setters import (
    LOADPOINT_SETTERS,
    SITE_SETTERS,
    VEHICLE_SETTERS,
    EvccParseError,
    build_command,
    evcc_parse,
    resolve,
    writable_paths,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def payload(path: str, value: object, state: dict[str, str] | None = None, **kw: object) -> str:
    return build_command(resolve(path), value, state, now=NOW, **kw).payload  # type: ignore[arg-type]


# ---------------------------------------------------------------- catalog and paths


def test_catalog_follows_evccs_code_not_its_docs() -> None:
    assert "planEnergy" in LOADPOINT_SETTERS and "batteryBoost" in LOADPOINT_SETTERS
    assert "phasesConfigured" in LOADPOINT_SETTERS
    assert {"residualPower", "bufferSoc", "prioritySoc", "batteryDischargeControl", "smartCostLimit"} <= set(
        SITE_SETTERS
    )
    assert set(VEHICLE_SETTERS) == {"limitSoc", "minSoc", "planSoc", "planStrategy"}


@pytest.mark.parametrize(
    ("path", "use"),
    [
        ("loadpoints/1/plan/energy", "loadpoints/1/planEnergy"),
        ("loadpoints/1/batteryboost", "loadpoints/1/batteryBoost"),
        ("loadpoints/1/phases", "loadpoints/1/phasesConfigured"),
        ("loadpoints/1/targetSoc", "loadpoints/1/limitSoc"),
    ],
)
def test_doc_spellings_point_to_the_real_topic(path: str, use: str) -> None:
    with pytest.raises(ValidationError, match=use):
        resolve(path)


def test_read_only_state_is_refused_with_the_writable_list() -> None:
    with pytest.raises(ValidationError) as info:
        resolve("loadpoints/1/chargePower")
    assert "read-only" in str(info.value) and "maxCurrent" in str(info.value)


def test_unknown_topic_gets_close_matches() -> None:
    with pytest.raises(ValidationError, match=r"did you mean loadpoints/2/maxCurrent"):
        resolve("loadpoints/2/maxcurrent")
    with pytest.raises(ValidationError, match="did you mean site/residualPower"):
        resolve("site/residualPowr")


def test_paths_are_checked_against_what_evcc_published() -> None:
    with pytest.raises(ValidationError, match="no loadpoint 3; its loadpoints are 1, 2"):
        resolve("loadpoints/3/mode", loadpoints=[1, 2])
    with pytest.raises(ValidationError, match=r"no vehicle 'tesal'.*did you mean tesla"):
        resolve("vehicles/tesal/limitSoc", vehicles=["tesla", "db:3"])
    assert resolve("vehicles/db:3/limitSoc", vehicles=["tesla", "db:3"]).device_id == "vehicles/db:3"
    with pytest.raises(ValidationError, match="whole numbers from 1"):
        resolve("loadpoints/0/mode")
    with pytest.raises(ValidationError, match="PATH must look like"):
        resolve("mode")


def test_prefix_and_set_suffix_are_tolerated() -> None:
    target = resolve("home/evcc/loadpoints/1/mode/set", prefix="home/evcc")
    assert target.path == "loadpoints/1/mode"
    assert target.topic("home/evcc") == "home/evcc/loadpoints/1/mode/set"


def test_writable_paths_cover_every_scope() -> None:
    paths = writable_paths([1, 2], ["tesla"])
    assert "site/residualPower" in paths and "loadpoints/2/planEnergy" in paths
    assert "vehicles/tesla/planSoc" in paths


# ---------------------------------------------------------------- encodings


@pytest.mark.parametrize("value", [80, 80.0, "80", "80.0", " 80 "])
def test_int_setters_always_send_a_plain_integer(value: object) -> None:
    assert payload("loadpoints/1/limitSoc", value) == "80"
    assert payload("vehicles/x/minSoc", value) == "80"


@pytest.mark.parametrize("value", [80.5, "80.5", "eighty", True, None, "1e400"])
def test_int_setters_refuse_non_integers(value: object) -> None:
    with pytest.raises(ValidationError, match="whole number from 0 to 100"):
        payload("loadpoints/1/limitSoc", value)


@pytest.mark.parametrize("value", [101, -1])
def test_soc_out_of_range(value: int) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        payload("vehicles/x/limitSoc", value)


def test_floats_are_plain() -> None:
    assert payload("site/residualPower", 100) == "100"
    assert payload("site/residualPower", "-250.5") == "-250.5"
    assert payload("loadpoints/1/maxCurrent", 16.0) == "16"
    assert payload("loadpoints/1/minCurrent", "6.5") == "6.5"


@pytest.mark.parametrize("value", ["nan", "inf", float("nan"), "-Infinity"])
def test_nan_and_infinity_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="NaN and infinity"):
        payload("site/residualPower", value)


@pytest.mark.parametrize(
    ("value", "sent"), [(True, "true"), ("on", "true"), ("FALSE", "false"), (0, "false")]
)
def test_booleans(value: object, sent: str) -> None:
    assert payload("site/batteryDischargeControl", value) == sent


@pytest.mark.parametrize(
    ("value", "sent"),
    [(60, "60"), ("90s", "90"), ("2m", "120"), ("1h", "3600"), (timedelta(minutes=3), "180")],
)
def test_durations_are_whole_seconds(value: object, sent: str) -> None:
    assert payload("loadpoints/1/enableDelay", value) == sent


@pytest.mark.parametrize("value", [1.5, "1.5", timedelta(milliseconds=1500), "soon", -5])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValidationError):
        payload("loadpoints/1/disableDelay", value)


@pytest.mark.parametrize(
    ("value", "sent"), [("PV", "pv"), ("minpv", "minpv"), (" now ", "now"), ("off", "off")]
)
def test_modes(value: str, sent: str) -> None:
    assert payload("loadpoints/1/mode", value) == sent


def test_bad_mode_lists_the_modes() -> None:
    with pytest.raises(ValidationError, match="one of off, now, minpv, pv"):
        payload("loadpoints/1/mode", "fast")


@pytest.mark.parametrize("value", [0, 1, 3, "3"])
def test_phases_allowed(value: object) -> None:
    assert payload("loadpoints/1/phasesConfigured", value) == str(value)


@pytest.mark.parametrize("value", [2, 4, -1, "1.5"])
def test_phases_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="0 \\(automatic\\), 1 or 3"):
        payload("loadpoints/1/phasesConfigured", value)


def test_phases_against_the_charger() -> None:
    with pytest.raises(ValidationError, match="switches phases"):
        payload("loadpoints/1/phasesConfigured", 0, {"loadpoints/1/chargerPhases1p3p": "false"})
    with pytest.raises(ValidationError, match="single-phase"):
        payload("loadpoints/1/phasesConfigured", 3, {"loadpoints/1/chargerSinglePhase": "true"})


def test_min_current_not_above_max_current() -> None:
    state = {"loadpoints/1/minCurrent": "6", "loadpoints/1/maxCurrent": "16"}
    assert payload("loadpoints/1/minCurrent", 16, state) == "16"
    with pytest.raises(ValidationError, match="above maxCurrent 16 A"):
        payload("loadpoints/1/minCurrent", 16.5, state)
    with pytest.raises(ValidationError, match="below minCurrent 6 A"):
        payload("loadpoints/1/maxCurrent", 5, state)
    assert payload("loadpoints/2/maxCurrent", 5, state) == "5"  # another loadpoint's state doesn't apply


def test_site_battery_soc_rules() -> None:
    state = {"site/bufferSoc": "80", "site/bufferStartSoc": "90", "site/prioritySoc": "40"}
    assert payload("site/bufferSoc", 0, state) == "0"
    with pytest.raises(ValidationError, match="below prioritySoc"):
        payload("site/bufferSoc", 30, state)
    with pytest.raises(ValidationError, match="above bufferStartSoc"):
        payload("site/bufferSoc", 95, state)
    with pytest.raises(ValidationError, match="below bufferSoc"):
        payload("site/bufferStartSoc", 70, state)
    with pytest.raises(ValidationError, match="above bufferSoc"):
        payload("site/prioritySoc", 85, state)


def test_battery_boost_needs_pv_or_minpv() -> None:
    with pytest.raises(ValidationError, match="needs mode pv or minpv"):
        payload("loadpoints/1/batteryBoost", True, {"loadpoints/1/mode": "now"})
    assert payload("loadpoints/1/batteryBoost", True, {"loadpoints/1/mode": "minpv"}) == "true"
    assert payload("loadpoints/1/batteryBoost", False, {"loadpoints/1/mode": "now"}) == "false"


@pytest.mark.parametrize("word", [None, "null", "none", "-", "nil", "NULL", "", "  "])
def test_nullable_setters_accept_a_reset(word: object) -> None:
    command = build_command(resolve("loadpoints/1/smartCostLimit"), word, now=NOW)
    assert command.payload == "null"
    assert command.expected == {"loadpoints/1/smartCostLimit": ""}
    assert payload("site/batteryMode", word) == "null"


def test_non_nullable_setters_refuse_a_reset() -> None:
    with pytest.raises(ValidationError):
        payload("site/residualPower", None)
    with pytest.raises(ValidationError):
        payload("loadpoints/1/limitSoc", "null")


def test_site_smart_cost_limit_is_confirmed_on_every_loadpoint() -> None:
    command = build_command(resolve("site/smartCostLimit"), 0.2, now=NOW, loadpoints=[1, 2])
    assert command.payload == "0.2"
    assert command.expected == {"loadpoints/1/smartCostLimit": "0.2", "loadpoints/2/smartCostLimit": "0.2"}


def test_battery_mode_words() -> None:
    assert payload("site/batteryMode", "Hold") == "hold"
    with pytest.raises(ValidationError, match="normal, hold, charge, holdcharge"):
        payload("site/batteryMode", "discharge")


def test_vehicle_on_a_loadpoint() -> None:
    assert payload("loadpoints/1/vehicle", "tesla", vehicles=["tesla"]) == "tesla"
    assert payload("loadpoints/1/vehicle", "none", vehicles=["tesla"]) == "null"
    with pytest.raises(ValidationError, match="no vehicle 'zoe'"):
        payload("loadpoints/1/vehicle", "zoe", vehicles=["tesla"])


# ---------------------------------------------------------------- plans


def test_plan_energy_json_with_utc_z_time() -> None:
    command = build_command(
        resolve("loadpoints/1/planEnergy"), {"value": 20, "time": "2026-03-02T08:00:00+01:00"}, now=NOW
    )
    assert json.loads(command.payload) == {"value": 20, "time": "2026-03-02T07:00:00Z"}
    assert command.expected["loadpoints/1/planTime"] == str(
        int(datetime(2026, 3, 2, 7, tzinfo=UTC).timestamp())
    )
    assert (
        payload("loadpoints/1/planEnergy", "12.5@2026-03-02T07:00Z")
        == '{"value":12.5,"time":"2026-03-02T07:00:00Z"}'
    )
    when = datetime(2026, 3, 2, 7, tzinfo=UTC)
    assert json.loads(payload("loadpoints/1/planEnergy", (10, when)))["time"] == "2026-03-02T07:00:00Z"


def test_plan_time_in_the_past_is_refused_before_sending() -> None:
    with pytest.raises(ValidationError, match="in the past"):
        payload("loadpoints/1/planEnergy", {"value": 20, "time": "2026-03-01T11:59:00Z"})
    with pytest.raises(ValidationError, match="in the past"):
        payload("vehicles/x/planSoc", {"value": 80, "time": "2020-01-01T00:00:00Z"})


def test_plan_time_needs_a_timezone() -> None:
    with pytest.raises(ValidationError, match="no timezone"):
        payload("loadpoints/1/planEnergy", {"value": 20, "time": "2026-03-02T07:00:00"})


def test_plan_soc_is_an_integer_and_zero_deletes() -> None:
    assert (
        json.loads(payload("vehicles/x/planSoc", '{"value": 80.0, "time": "2026-03-02T07:00:00Z"}'))["value"]
        == 80
    )
    with pytest.raises(ValidationError, match="whole number"):
        payload("vehicles/x/planSoc", {"value": 80.5, "time": "2026-03-02T07:00:00Z"})
    deleted = build_command(
        resolve("vehicles/x/planSoc"), {"value": 0, "time": "2020-01-01T00:00:00Z"}, now=NOW
    )
    assert json.loads(deleted.payload) == {"value": 0, "time": "0001-01-01T00:00:00Z"}


def test_plan_needs_value_and_time() -> None:
    with pytest.raises(ValidationError, match='"value" and "time"'):
        payload("loadpoints/1/planEnergy", {"value": 20})
    with pytest.raises(ValidationError, match="invalid JSON"):
        payload("loadpoints/1/planEnergy", '{"value": 20,')


def test_plan_strategy() -> None:
    sent = json.loads(payload("loadpoints/1/planStrategy", '{"continuous": true, "precondition": "30m"}'))
    assert sent == {"continuous": True, "precondition": 1800}
    with pytest.raises(ValidationError):
        payload("loadpoints/1/planStrategy", '{"speed": 1}')


# ---------------------------------------------------------------- properties: what we send, evcc accepts


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(st.one_of(st.integers(0, 100), st.integers(0, 100).map(float), st.integers(0, 100).map(str)))
def test_every_int_we_send_passes_evccs_atoi(value: object) -> None:
    target = resolve("loadpoints/1/limitSoc")
    command = build_command(target, value, now=NOW)
    assert evcc_parse(target.setter, command.payload) == int(float(str(value)))


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_every_float_we_send_passes_evccs_parse_float(value: float) -> None:
    target = resolve("site/residualPower")
    command = build_command(target, value, now=NOW)
    assert evcc_parse(target.setter, command.payload) == pytest.approx(value)


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(st.integers(0, 10**6))
def test_every_duration_we_send_is_whole_seconds(seconds: int) -> None:
    target = resolve("loadpoints/1/enableDelay")
    assert evcc_parse(target.setter, build_command(target, seconds, now=NOW).payload) == seconds


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(
    st.floats(min_value=0.1, max_value=200, allow_nan=False),
    st.datetimes(min_value=datetime(2026, 3, 2), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_every_plan_we_send_is_a_future_plan_for_evcc(energy: float, when: datetime) -> None:
    target = resolve("loadpoints/1/planEnergy")
    command = build_command(target, {"value": energy, "time": when}, now=NOW)
    value, moment = evcc_parse(target.setter, command.payload)
    assert value == pytest.approx(energy)
    assert moment == when.replace(microsecond=0)
    assert command.payload.count("Z") == 1


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(st.text(max_size=12))
def test_int_setter_text_is_sent_only_when_it_is_a_whole_number(text: str) -> None:
    target = resolve("loadpoints/1/minSoc")
    try:
        command = build_command(target, text, now=NOW)
    except ValidationError:
        return
    assert command.payload.isdigit()
    assert 0 <= int(command.payload) <= 100


# ---------------------------------------------------------------- evcc's own parsers (used by the simulator)


@pytest.mark.parametrize("text", ["80.0", "80.5", " 80", "", "null"])
def test_evcc_int_parser_is_strict_like_atoi(text: str) -> None:
    with pytest.raises(EvccParseError):
        evcc_parse(LOADPOINT_SETTERS["limitSoc"], text)


def test_evcc_float_parser_refuses_nan_and_null() -> None:
    for text in ("NaN", "null", "+Inf"):
        with pytest.raises(EvccParseError):
            evcc_parse(SITE_SETTERS["residualPower"], text)
    assert evcc_parse(SITE_SETTERS["residualPower"], "1e3") == 1000.0
    assert evcc_parse(LOADPOINT_SETTERS["smartCostLimit"], "none") is None


# ---------------------------------------------------------------- evcc's JSON parsing (encoding/json)


def test_evcc_json_setters_parse_like_go() -> None:
    plan = LOADPOINT_SETTERS["planEnergy"]
    strategy = LOADPOINT_SETTERS["planStrategy"]
    moment = datetime(2099, 1, 1, 6, tzinfo=UTC)
    assert evcc_parse(plan, '{"Value":20,"TIME":"2099-01-01T06:00:00Z","extra":1}') == (20, moment)
    assert evcc_parse(plan, '{"value":null,"time":"2099-01-01T06:00:00Z"}') == (0, moment)  # null: no-op
    assert evcc_parse(strategy, '{"Continuous":true,"precondition":null}') == {
        "continuous": True,
        "precondition": 0,
    }
    for not_rfc3339 in ("2099-01-01 06:00:00Z", "2099-01-01T06:00Z", "2099-01-01T06:00:00"):
        with pytest.raises(EvccParseError, match="RFC3339"):
            evcc_parse(plan, json.dumps({"value": 20, "time": not_rfc3339}))


@pytest.mark.parametrize(
    ("name", "payload"),
    [("smartCostLimit", p) for p in ("NULL", " null", "None", "٣", "1_0")]
    + [("limitSoc", p) for p in ("0x10", "٣", "+-1", "9223372036854775808")],
)
def test_evcc_empty_words_and_numbers_are_exact(name: str, payload: str) -> None:
    with pytest.raises(EvccParseError):
        evcc_parse(LOADPOINT_SETTERS[name], payload)
