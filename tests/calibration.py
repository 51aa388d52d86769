"""Calibrating a training check: its verdict on many correct implementations and on many
realistic bugs, measured in this process with tests/corpus.py's ``check_verdicts``."""
from __future__ import annotations

from tests.corpus import check_verdicts


def calibrate(chapter: str, exercise: str, variants: dict[str, dict[str, str]],
              bugs: dict[str, tuple[dict[str, str], tuple[str, ...] | None]],
              checks: tuple[str, ...]) -> dict[str, tuple[int, int, int, int]]:
    """Each check's figures ``(variants, false rejections, bugs, caught)``, after asserting that
    every variant passes it and every bug meant for it fails it.

    Args:
        variants: name → the solution cells it replaces (grade_id → source).
        bugs: name → (the cells it replaces, the checks that must catch it; None for all).
        checks: the training checks of ``exercise`` to calibrate.
    """
    verdicts = check_verdicts(chapter, exercise, {f"ok {k}": v for k, v in variants.items()}
                              | {f"bug {k}": cells for k, (cells, _) in bugs.items()}, checks)
    figures = {}
    for check in checks:
        rejected = {k: verdicts[f"ok {k}"][check].message for k in variants if not verdicts[f"ok {k}"][check].passed}
        meant = [k for k, (_, which) in bugs.items() if which is None or check in which]
        missed = [k for k in meant if verdicts[f"bug {k}"][check].passed]
        assert not rejected, f"{exercise}/{check} rejects correct variants: {rejected}"
        assert not missed, f"{exercise}/{check} misses bugs: {missed}"
        figures[check] = (len(variants), len(rejected), len(meant), len(meant) - len(missed))
    return figures


def assert_calibrated(figures: dict[str, tuple[int, int, int, int]], table: dict, prefix: str) -> None:
    """At least 20 variants, none rejected, at least as many bugs, all caught; and the checks
    module's ``CALIBRATION`` table (keys ``prefix/check``) says so."""
    for check, (n_ok, rejected, n_bugs, caught) in figures.items():
        assert n_ok >= 20 and rejected == 0 and n_bugs >= n_ok and caught == n_bugs, (check, figures[check])
        assert table[f"{prefix}/{check}"] == figures[check], (check, figures[check])
