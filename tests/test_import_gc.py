"""Hostile tests of f59a17a: ``import evkit`` pauses the cyclic garbage collector while evkit and
Polars load and leaves it as the importer had it, whatever happens during the import. Each case runs
in a fresh interpreter (an import happens once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("module", ["evkit", "evkit.cli", "evkit.analysis", "evkit.store.reader"])
def test_the_collector_is_left_as_the_importer_had_it(module: str, enabled: bool) -> None:
    done = _python(
        f"""
        import gc, importlib
        thresholds = gc.get_threshold()
        {"gc.enable()" if enabled else "gc.disable()"}
        importlib.import_module({module!r})
        print(gc.isenabled(), gc.get_threshold() == thresholds)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(enabled), "True"]


def test_the_collector_is_paused_while_evkit_loads() -> None:
    """What the commit is for: no collection runs while the package's own imports load (from the
    pause until ``evkit.scan`` is bound; one pass right after, of what the pause let pile up, is
    expected)."""
    done = _python(
        """
        import gc, sys
        during = []
        def seen(phase, info):
            evkit = sys.modules.get("evkit")
            loading = evkit is not None and "_collecting" in vars(evkit) and "scan" not in vars(evkit)
            if phase == "start" and loading:
                during.append(info["generation"])
        gc.callbacks.append(seen)
        import evkit
        print(len(during), gc.isenabled())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"]


@pytest.mark.parametrize(
    "failing",
    ["evkit._allocator", "evkit.errors", "evkit.store.reader", "polars"],
)
def test_a_failed_import_still_gives_the_collector_back(failing: str) -> None:
    """A module evkit loads raises midway (a broken install, a missing dependency): the import of
    evkit fails, and the collector runs again; a second import after the cause is gone works and
    leaves it running too."""
    done = _python(
        f"""
        import gc, importlib.abc, sys

        class Broken(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == {failing!r}:
                    raise ImportError("broken for the test: " + name)
                return None

        for name in [n for n in sys.modules if n == {failing!r} or n.startswith({failing!r} + ".")]:
            del sys.modules[name]
        sys.meta_path.insert(0, Broken())
        try:
            import evkit
        except ImportError as exc:
            print("failed", gc.isenabled())
        else:
            print("imported", gc.isenabled())
        sys.meta_path.pop(0)
        for name in [n for n in sys.modules if n == "evkit" or n.startswith("evkit.")]:
            del sys.modules[name]
        import evkit
        print("again", gc.isenabled(), evkit.scan is not None)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed", "True", "again", "True", "True"]


def test_an_exception_that_is_no_import_error_still_gives_the_collector_back() -> None:
    """``_allocator.tune()`` raising (an unexpected environment) or a KeyboardInterrupt while evkit
    loads: the collector is running again afterwards."""
    done = _python(
        """
        import gc, sys, types

        for exc in (RuntimeError("tune failed"), KeyboardInterrupt()):
            broken = types.ModuleType("evkit._allocator")
            def tune(exc=exc):
                raise exc
            broken.tune = tune
            for name in [n for n in sys.modules if n == "evkit" or n.startswith("evkit.")]:
                del sys.modules[name]
            sys.modules["evkit._allocator"] = broken
            try:
                import evkit
            except BaseException as raised:
                print(type(raised).__name__, gc.isenabled())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RuntimeError", "True", "KeyboardInterrupt", "True"]


def test_a_disabled_collector_stays_disabled_after_a_failed_import() -> None:
    done = _python(
        """
        import gc, sys, types
        gc.disable()
        broken = types.ModuleType("evkit._allocator")
        def tune():
            raise RuntimeError("tune failed")
        broken.tune = tune
        sys.modules["evkit._allocator"] = broken
        try:
            import evkit
        except RuntimeError:
            print("failed", gc.isenabled())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed", "False"]
