"""The code printed with a recommendation builds the estimator the catalogue entry builds."""

from __future__ import annotations

import pytest

import scgrad
from scgrad.diagnostics.catalogue import CATALOGUE, Entry, discrete
from scgrad.diagnostics.recommend import usage


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda entry: entry.name)
def test_the_code_of_every_entry_builds_its_estimator(entry):
    code = usage(entry)
    assert code.startswith("scgrad.") and "..." not in code
    built, made = eval(code, {"scgrad": scgrad}), entry.make(None)
    assert type(built) is type(made)
    assert repr(built) == repr(made)  # the same modules inside (baselines, controls)


def test_options_are_kept_and_nodes_named():
    relax = next(entry for entry in CATALOGUE if entry.name == "relax_rebar")
    assert usage(relax, ["z1", "z2"]) == ('scgrad.sample("z1", dist, scgrad.RELAX(relaxed_cost=True))\n'
                                          'scgrad.sample("z2", dist, scgrad.RELAX(relaxed_cost=True))')


def make_loo(dist):
    return scgrad.ScoreFunction(baseline=scgrad.LeaveOneOut())


def test_a_function_is_read_too_and_an_unreadable_make_says_so():
    assert usage(Entry("loo", make_loo, discrete)) == "scgrad.ScoreFunction(baseline=scgrad.LeaveOneOut())"
    unreadable = eval("lambda dist: scgrad.GumbelSoftmax()", {"scgrad": scgrad})  # no source file
    assert usage(Entry("gs", unreadable, discrete)) == "scgrad.GumbelSoftmax(...)"
