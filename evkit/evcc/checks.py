"""evcc's cross checks between settings (core/site_api.go, core/loadpoint_api.go), applied before sending.

``state`` maps state paths below the prefix (``site/bufferSoc``) to evcc's published text; a missing
value skips its check (evcc decides then). Each refusal is a :class:`~evkit.errors.ValidationError`
saying what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping

from evkit.errors import ValidationError
from evkit.evcc.catalog import Target


def plain_float(number: float) -> str:
    """A float as evcc's ``ParseFloat`` reads it, shortest form: ``16``, ``6.5``, ``0.25``."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _state_float(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def check_site_battery(target: Target, number: float, state: Mapping[str, str]) -> None:
    name = target.setter.name
    buffer_soc = _state_float(state.get("site/bufferSoc"))
    buffer_start = _state_float(state.get("site/bufferStartSoc"))
    priority = _state_float(state.get("site/prioritySoc"))
    if name == "bufferSoc" and number != 0:
        if priority is not None and number < priority:
            raise ValidationError(
                f"site/bufferSoc {plain_float(number)} % is below prioritySoc {plain_float(priority)} %; "
                "evcc needs 0 or a value >= prioritySoc"
            )
        if buffer_start and number > buffer_start:
            raise ValidationError(
                f"site/bufferSoc {plain_float(number)} % is above bufferStartSoc "
                f"{plain_float(buffer_start)} %; evcc needs bufferSoc <= bufferStartSoc"
            )
    if name == "bufferStartSoc" and number != 0 and buffer_soc is not None and number < buffer_soc:
        raise ValidationError(
            f"site/bufferStartSoc {plain_float(number)} % is below bufferSoc {plain_float(buffer_soc)} %; "
            "evcc needs 0 or a value >= bufferSoc"
        )
    if name == "prioritySoc" and buffer_soc and number > buffer_soc:
        raise ValidationError(
            f"site/prioritySoc {plain_float(number)} % is above bufferSoc {plain_float(buffer_soc)} %; "
            "evcc needs prioritySoc <= bufferSoc"
        )


def check_loadpoint(target: Target, number: float, state: Mapping[str, str]) -> None:
    name, device = target.setter.name, target.device_id
    if name == "minCurrent":
        maximum = _state_float(state.get(f"{device}/maxCurrent"))
        if maximum is not None and number > maximum:
            raise ValidationError(
                f"{device}/minCurrent {plain_float(number)} A is above maxCurrent {plain_float(maximum)} A; "
                f"allowed: up to {plain_float(maximum)} A (or raise maxCurrent first)"
            )
    if name == "maxCurrent":
        minimum = _state_float(state.get(f"{device}/minCurrent"))
        if minimum is not None and number < minimum:
            raise ValidationError(
                f"{device}/maxCurrent {plain_float(number)} A is below minCurrent {plain_float(minimum)} A; "
                f"allowed: {plain_float(minimum)} A or more (or lower minCurrent first)"
            )
    if name == "phasesConfigured":
        switchable = state.get(f"{device}/chargerPhases1p3p")
        single = state.get(f"{device}/chargerSinglePhase")
        if number == 0 and switchable == "false":
            raise ValidationError(
                f"{device}/phasesConfigured 0 (automatic) needs a charger that switches phases; "
                "this one cannot: allowed 1 or 3"
            )
        if number == 3 and single == "true":
            raise ValidationError(f"{device}/phasesConfigured 3: this charger is single-phase; allowed: 1")


__all__ = ["check_loadpoint", "check_site_battery", "plain_float"]
