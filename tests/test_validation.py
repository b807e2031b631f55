"""peprkit._validation: messages name the argument, show the value and what is allowed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peprkit._validation import check_choice, check_number, require_columns


@pytest.mark.parametrize(("kwargs", "value", "match"), [
    (dict(low=1, integer=True, hint="(the paper uses 10)"), 0,
     r"^epochs=0 must be a whole number >= 1 \(the paper uses 10\)\.$"),
    (dict(low=1, integer=True), 2.0, r"epochs=2.0 must be a whole number >= 1"),
    (dict(low=1, integer=True), True, r"epochs=True must be a whole number"),
    (dict(low=0, strict=True), 0, r"epochs=0 must be a number > 0\.$"),
    (dict(low=0, high=1), 1.5, r"epochs=1.5 must be a number in \[0, 1\]"),
    (dict(low=0), float("nan"), r"epochs=nan must be a number >= 0"),
    (dict(low=0), "x" * 100, r"epochs='xxxx.*\.\.\. must be"),
    (dict(low=0, expect="a positive budget"), -1, r"epochs=-1 must be a positive budget\.$"),
])
def test_check_number_messages(kwargs, value, match):
    with pytest.raises(ValueError, match=match):
        check_number("epochs", value, **kwargs)


def test_check_number_returns_the_number():
    assert check_number("lr", "5e-4", low=0, strict=True) == 5e-4
    assert check_number("epochs", np.int64(3), low=1, integer=True) == 3


def test_check_choice_lists_the_options_and_close_matches():
    assert check_choice("amp", True, ("auto", True, False)) is True
    with pytest.raises(ValueError, match=r"^amp='yes' must be 'auto', True or False\.$"):
        check_choice("amp", "yes", ("auto", True, False))
    with pytest.raises(ValueError, match=r"optimizer='sgdd' must be .* Did you mean: sgd\?"):
        check_choice("optimizer", "sgdd", ("adam", "adamw", "sgd"))
    with pytest.raises(ValueError, match=r"x=array"):
        check_choice("x", np.zeros(3), ("a",))


def test_require_columns_names_argument_column_and_alternatives():
    df = pd.DataFrame({"test_acc": [0.9], "energy_kwh": [1.0]})
    require_columns(df, ["test_acc"], arg="performance")
    with pytest.raises(ValueError, match=r"performance='test_ac' is not a column: `performance` "
                       r"names column 'test_ac', which is not in the table; use one of: "
                       r"test_acc, energy_kwh\. Did you mean: test_acc\?"):
        require_columns(df, ["test_ac"], arg="performance")
    with pytest.raises(ValueError, match=r"`df` must be a pandas DataFrame, got list"):
        require_columns([1], ["a"], arg="performance")
