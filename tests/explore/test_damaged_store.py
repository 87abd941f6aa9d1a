"""The explorer on a store with a data page damaged behind a sound footer (a capture-written store): a
sentence names the part below the store, whether the store is opened or a click reads it, and
``skip_damaged=True`` opens the rest, with the views of the store without the part."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.errors import DatasetError
from evkit.explore.app import explore
from evkit.explore.controller import ExploreController
from tests.analysis.conftest import B
from tests.test_cli_damaged_pages import _store, _without, damage_a_page


@pytest.fixture(scope="module")
def damaged_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(store, its damaged part, the same store without that part)."""
    base = tmp_path_factory.mktemp("explore-pages")
    root = base / "store"
    damaged = _store(root)[2]
    damage_a_page(damaged)
    return root, damaged, _without(root, base / "clean", [damaged])


def _names_the_part(message: str, root: Path, damaged: Path) -> None:
    assert f"1 damaged Parquet part(s) in {root}" in message
    assert f"{damaged.relative_to(root).as_posix()} (data page unreadable in row group 0: " in message
    assert "Move them out of the dataset, or open it with evkit.explore(..., skip_damaged=True)" in message


def test_opening_a_store_with_a_damaged_page_is_a_sentence_naming_the_part(
    damaged_store: tuple[Path, Path, Path],
) -> None:
    root, damaged, _ = damaged_store
    with pytest.raises(DatasetError) as caught:
        explore(root, zone="UTC")
    _names_the_part(str(caught.value), root, damaged)
    # what a notebook shows of it: the sentence, not a traceback
    assert caught.value._render_traceback_() == [f"DatasetError: {caught.value}"]


def test_skip_damaged_shows_the_store_without_the_part_and_names_it(
    damaged_store: tuple[Path, Path, Path],
) -> None:
    root, damaged, clean = damaged_store
    got = ExploreController(root, zone="UTC", skip_damaged=True)
    want = ExploreController(clean, zone="UTC")
    assert (got.chargers, got.first_day, got.last_day) == (want.chargers, want.first_day, want.last_day)
    assert [d.path for d in got.skipped] == [damaged]
    mine, theirs = got.select(), want.select()
    assert_frame_equal(got.sessions(mine), want.sessions(theirs))
    assert_frame_equal(got.quality(mine), want.quality(theirs))
    assert_frame_equal(got.energy_per_day(mine), want.energy_per_day(theirs))
    one, same = got.select(B), want.select(B)  # a charger's rows are read from the store: without it too
    assert_frame_equal(got.rows(one).collect(), want.rows(same).collect())
    session = got.sessions(one)["session_id"][0]
    assert got.session_curve(one, session).to_json() == want.session_curve(same, session).to_json()
    app = explore(root, zone="UTC", skip_damaged=True)
    relative = damaged.relative_to(root).as_posix()
    assert f"skipped 1 damaged Parquet part(s): {relative} (data page unreadable" in app.message.value
    # the summary without the part is never taken for the whole store's
    with pytest.raises(DatasetError, match="data page unreadable"):
        ExploreController(root, zone="UTC")


def test_a_page_damaged_after_opening_is_told_in_the_message_line(tmp_path: Path) -> None:
    """A click that reads the store (a charger's latency, a session's power curve) on a page damaged
    since the store was opened: the message line names the part, and the explorer goes on."""
    root = tmp_path / "store"
    part = _store(root)[2]
    charger = pl.read_parquet(part, columns=["charger_id"])["charger_id"].drop_nulls()[0]
    app = explore(root, zone="UTC")
    session = app.controller.sessions(app.controller.select(charger))["session_id"][0]
    damage_a_page(part)
    app.tabs.selected_index = 2  # latency: of one charger, read from its rows
    app.choose(charger)
    assert "#b00020" in app.message.value  # told as an error
    _names_the_part(app.message.value, root, part)
    app.message.value = ""
    app.show_session(session)
    _names_the_part(app.message.value, root, part)
    shutil.move(part, tmp_path / part.name)  # as the sentence says: the click works again
    app.choose(charger)
    assert "sessions" in app.message.value and "damaged" not in app.message.value
    assert "latency" in app.figures


def test_a_part_with_a_damaged_footer_is_named_with_the_explorers_way_to_skip_it(tmp_path: Path) -> None:
    """A part the checks before a read find damaged (here zero bytes) is named as the CLI names it, but
    the sentence ends with the explorer's own option, not the CLI's flag; with it, the store opens."""
    root = tmp_path / "store"
    parts = _store(root)
    empty = parts[0].parent / "part-empty.parquet"
    empty.touch()
    with pytest.raises(DatasetError) as raised:
        ExploreController(root, zone="UTC")
    message = str(raised.value)
    assert f"1 damaged Parquet part(s) in {root}: {empty} (" in message
    assert message.endswith("or open it with evkit.explore(..., skip_damaged=True) to read the rest")
    assert "--skip-damaged" not in message
    opened = ExploreController(root, zone="UTC", skip_damaged=True)
    assert [d.path for d in opened.skipped] == [empty]


def test_refresh_reads_a_mended_part_again_and_forgets_one_moved_out(tmp_path: Path) -> None:
    """With ``skip_damaged``, a part found with an unreadable page is left out until it changes: put
    back whole, Refresh reads it again (the views are the whole store's, nothing named as skipped);
    damaged again and moved out of the store, the message line no longer names it."""
    root = tmp_path / "store"
    part = _store(root)[2]
    whole = ExploreController(root, zone="UTC")
    mended = part.read_bytes()
    damage_a_page(part)
    app = explore(root, zone="UTC", skip_damaged=True)
    assert "skipped 1 damaged Parquet part(s)" in app.message.value
    part.write_bytes(mended)  # put back whole (from a backup)
    assert app.refresh()
    c = app.controller
    assert c.skipped == [] and "skipped" not in app.message.value
    assert (c.summary.rows, c.chargers) == (whole.summary.rows, whole.chargers)  # type: ignore[union-attr]
    assert_frame_equal(c.sessions(c.select()), whole.sessions(whole.select()))
    damage_a_page(part)
    assert app.refresh() and "skipped 1 damaged Parquet part(s)" in app.message.value
    shutil.move(part, tmp_path / part.name)
    assert app.refresh()
    assert c.skipped == [] and "skipped" not in app.message.value and "damaged" not in app.message.value


def test_a_click_that_reads_again_takes_the_error_off_the_message_line(tmp_path: Path) -> None:
    """A session's curve, then a tab, that failed on a damaged page: once the part is moved out, the
    same clicks draw, and the message line says the selection again, not the error of a read that now
    works."""
    root = tmp_path / "store"
    part = _store(root)[2]
    charger = pl.read_parquet(part, columns=["charger_id"])["charger_id"].drop_nulls()[0]
    app = explore(root, zone="UTC")
    app.choose(charger)
    status = app.message.value
    session = app.controller.sessions(app.controller.select(charger))["session_id"][0]
    damage_a_page(part)
    app.show_session(session)
    _names_the_part(app.message.value, root, part)
    shutil.move(part, tmp_path / part.name)
    app.show_session(session)
    assert app.message.value == status and "curve" in app.figures
    part.write_bytes((tmp_path / part.name).read_bytes())  # back, still damaged
    app.controller._cache.clear()  # the charger's rows are read again for its latency
    app.tabs.selected_index = 2
    _names_the_part(app.message.value, root, part)
    part.unlink()
    app.tabs.selected_index = 0
    app.tabs.selected_index = 2
    assert "latency" in app.figures and "damaged" not in app.message.value and "sessions" in app.message.value
