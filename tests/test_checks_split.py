"""A choice made on the test split fails even where it gives the validation answer.

On a learner's own run the test-split peak often coincides with the validation one, so
the value alone cannot tell the slip; the checks also read the answer cell.
"""

import contextlib
import io

import pandas as pd
import pytest

from peprkit import checks

#: A run whose validation and test peaks coincide (the slip gives the right value).
HISTORY = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.60, 0.85, 0.84],
                        "test_acc": [0.61, 0.86, 0.83], "energy_kwh": [1.0, 2.0, 3.0],
                        "majority_acc": 0.6})


@pytest.fixture
def shell():
    IPython = pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns.update(checks=checks, history=HISTORY, REFERENCE_KWH=10.0)
    yield shell
    InteractiveShell.clear_instance()
    assert IPython


def _run(shell, source: str) -> tuple[bool, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = shell.run_cell(source, store_history=True)
    return result.success, out.getvalue()


#: Per lesson: the answer cell (``{column}`` is the split it chooses on) and its check.
SLIPS = {
    "03": ('score = history["{column}"] / (1 + history["energy_kwh"] / REFERENCE_KWH)\n'
           'best_epoch_by_hand = int(history["epoch"][score.idxmax()])',
           "checks.lesson03.q1(best_epoch_by_hand, history=history, "
           "reference_kwh=REFERENCE_KWH)"),
    "04": ('reached = history[history.{column} >= 0.8]\n'
           'energy_pretrained_kwh = reached["energy_kwh"].iloc[0]',
           "checks.lesson04.q1(energy_pretrained_kwh, history=history, target=0.8, "
           "name='energy_pretrained_kwh')"),
}


@pytest.mark.parametrize("column", ["val_acc", "test_acc"])
@pytest.mark.parametrize("lesson", sorted(SLIPS))
def test_a_choice_on_the_test_split_fails_though_the_value_matches(shell, lesson, column):
    answer, check = SLIPS[lesson]
    ok, text = _run(shell, answer.format(column=column))
    assert ok, text
    ok, text = _run(shell, check)
    assert ok == (column == "val_acc"), text
    if column == "test_acc":
        assert "chosen on the test split" in text
