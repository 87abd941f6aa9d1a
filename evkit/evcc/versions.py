"""Which evcc release has which setter, and what ``site/version`` says about the running evcc.

Pure knowledge, no I/O. evcc subscribes its setter topics once, at start, from a fixed list
(``server/mqtt.go`` ``Listen``): a topic its release does not list has no subscriber, so a command to it
is dropped without a word in evcc's log. evkit therefore refuses such a setter before sending.

``SINCE`` is the first release from which evcc subscribes a setter without a gap up to the newest
release (tested against ``tests/conformance/evcc_setters.py``, which cites the commit of each). Setters
in every release checked (0.123.0, the first with vehicles addressed by name, and later) have no entry:
evkit does not gate them.

What evcc publishes on ``site/version`` (``cmd/root.go:458`` ``util.FormattedVersion()``,
``util/version.go:18-23``):

- a release: the tag, ``0.313.2`` (Docker and packages build with ``RELEASE=1``, no commit)
- a nightly or self-built binary: ``<last tag on master> (<short commit>)``, e.g. ``0.313.0 (b29b49e30)``
  (``Makefile:2-12``, ``.goreleaser-nightly.yml:14``); it may hold setters of the *next* feature release
- a development build without version flags: ``0.0.0`` (``util.DevVersion``), nothing can be checked
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from evkit.errors import ValidationError
from evkit.evcc.state import Scope

Release = tuple[int, int, int]


@dataclass(frozen=True)
class Since:
    """From which evcc release a setter exists; ``released`` False = only in nightly builds so far."""

    release: Release
    released: bool = True

    def text(self) -> str:
        """``0.312.0``, or ``a nightly build after 0.313.2`` for a setter not released yet."""
        if self.released:
            return _dotted(self.release)
        return f"a nightly build after {_dotted(NEWEST_RELEASE)}"


#: The newest evcc release evkit was checked against (evcc-io/evcc tag 0.313.2, 5b4b4a333, 2026-08-06).
NEWEST_RELEASE: Release = (0, 313, 2)

_NEXT = (NEWEST_RELEASE[0], NEWEST_RELEASE[1] + 1, 0)

#: (scope, setter) -> first release from which evcc subscribes it (see the module docs).
SINCE: dict[tuple[Scope, str], Since] = {
    ("site", "batteryDischargeControl"): Since((0, 126, 3)),
    ("site", "smartCostLimit"): Since((0, 126, 3)),  # also 0.123.0-0.124.4, absent 0.124.5-0.126.2
    ("site", "batteryGridChargeLimit"): Since((0, 130, 0)),
    ("site", "batteryMode"): Since((0, 203, 0)),
    ("site", "smartFeedInPriorityLimit"): Since((0, 205, 0)),
    ("site", "solarAdjusted"): Since((0, 312, 0)),
    ("site", "batteryGridDischarge"): Since((0, 313, 0)),
    ("site", "gridExportLimit"): Since(_NEXT, released=False),
    ("loadpoint", "limitEnergy"): Since((0, 124, 1)),
    ("loadpoint", "smartCostLimit"): Since((0, 124, 5)),
    ("loadpoint", "batteryBoost"): Since((0, 131, 0)),
    ("loadpoint", "enableDelay"): Since((0, 131, 0)),
    ("loadpoint", "disableDelay"): Since((0, 131, 0)),
    ("loadpoint", "priority"): Since((0, 200, 0)),
    ("loadpoint", "smartFeedInPriorityLimit"): Since((0, 205, 0)),
    ("loadpoint", "planStrategy"): Since((0, 300, 2)),  # in 0.300.0, reverted in 0.300.1
    ("loadpoint", "batteryBoostLimit"): Since((0, 301, 0)),
    ("loadpoint", "phasesConfigured"): Since((0, 301, 2)),  # before: "phases"
    ("loadpoint", "minSoc"): Since((0, 312, 0)),
    ("vehicle", "planStrategy"): Since((0, 300, 2)),
}


@dataclass(frozen=True)
class EvccVersion:
    """A parsed ``site/version``: the release (or the tag a nightly builds on), and its commit if any."""

    text: str
    release: Release
    commit: str | None = None

    @property
    def nightly(self) -> bool:
        """A build with a commit: master after ``release``, possibly with newer setters."""
        return self.commit is not None

    @property
    def development(self) -> bool:
        """``0.0.0``: built without version flags; nothing can be checked."""
        return self.release == (0, 0, 0)


_VERSION = re.compile(
    r"^\s*v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?"
    r"(?P<rest>[-+][0-9A-Za-z.+-]*)?\s*(?:\((?P<commit>[0-9A-Za-z]+)\))?\s*$"
)


def parse_version(text: str | None) -> EvccVersion | None:
    """Parse evcc's ``site/version`` (``0.313.2``, ``0.313.0 (b29b49e30)``, ``0.313.0-102-gb29b49e30``).

    A ``git describe`` suffix or a pre-release/build suffix counts as a nightly after that release.
    ``None`` for an empty or unreadable text.
    """
    if not text:
        return None
    match = _VERSION.match(text)
    if match is None:
        return None
    release = (int(match["major"]), int(match["minor"]), int(match["patch"] or 0))
    commit = match["commit"] or None
    if commit is None and match["rest"]:
        described = re.search(r"-g([0-9a-f]{4,40})$", match["rest"])
        commit = described.group(1) if described else match["rest"].lstrip("-+")
    return EvccVersion(text.strip(), release, commit)


class Availability(StrEnum):
    """Whether the running evcc subscribes a setter."""

    YES = "yes"
    NO = "no"
    MAYBE = "maybe"  # a nightly that may hold the next release's setters
    UNKNOWN = "unknown"  # no version, or a development build


def availability(scope: Scope, name: str, version: EvccVersion | None) -> Availability:
    """Does ``version`` subscribe setter ``name`` of ``scope``?"""
    since = SINCE.get((scope, name))
    if since is None:
        return Availability.YES
    if version is None or version.development:
        return Availability.UNKNOWN
    if version.release >= since.release:
        return Availability.YES
    if version.nightly and (version.release[0], version.release[1] + 1) >= since.release[:2]:
        return Availability.MAYBE
    return Availability.NO


def check_setter(path: str, scope: Scope, name: str, version_text: str | None) -> str:
    """Refuse a setter the running evcc lacks (``ValidationError``); else a note ("" when all is clear).

    ``path`` is the setting's path (``site/solarAdjusted``), ``version_text`` evcc's ``site/version``
    (``None`` when it has not been received).
    """
    version = parse_version(version_text)
    since = SINCE.get((scope, name))
    verdict = availability(scope, name, version)
    if verdict is Availability.YES or since is None:
        return ""
    if verdict is Availability.NO:
        assert version is not None
        needs = (
            f"needs evcc {since.text()} or newer"
            if since.released
            else f"exists only in evcc nightly builds after {_dotted(NEWEST_RELEASE)} (not in a release yet)"
        )
        raise ValidationError(
            f"{path} {needs}; this evcc is {version.text} (it would drop the command without a word)"
        )
    if verdict is Availability.MAYBE:
        assert version is not None
        return (
            f"{path} came with evcc {since.text()}; this nightly build ({version.text}) may not have it, "
            "evkit could not check"
        )
    head = f"could not check whether this evcc has {path} (needs {since.text()})"
    if version_text:
        return f"{head}: its version {version_text!r} tells nothing"
    return f"{head}: no site/version received"


def available_setters(scope: Scope, names: list[str], version_text: str | None) -> list[str]:
    """The names of ``names`` that ``version_text`` certainly lacks are left out."""
    version = parse_version(version_text)
    return [name for name in names if availability(scope, name, version) is not Availability.NO]


def _dotted(release: Release) -> str:
    return ".".join(map(str, release))


__all__ = [
    "NEWEST_RELEASE",
    "SINCE",
    "Availability",
    "EvccVersion",
    "Since",
    "availability",
    "available_setters",
    "check_setter",
    "parse_version",
]
