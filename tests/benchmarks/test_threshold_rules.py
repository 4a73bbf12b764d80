"""The threshold-rule comparison on made-up probabilities."""

import numpy as np

from benchmarks import threshold_rules


def _data(seed=0, rows=200):
    """Label 0 frequent and well separated at 0.5; label 1 rare and separated only at 0.2."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((rows, 3), bool)
    truth[:, 2] = True
    truth[:, 0] = rng.random(rows) < 0.5
    truth[:, 1] = rng.random(rows) < 0.1
    probs = np.zeros((rows, 3), np.float32)
    probs[:, 0] = np.where(truth[:, 0], 0.7, 0.3)
    probs[:, 1] = np.where(truth[:, 1], 0.25, 0.15)
    probs[:, 2] = 0.99
    return probs, truth


def test_every_rule_is_scored_on_valid_halves_and_on_test():
    valid, test = _data(0), _data(1)
    rows = threshold_rules.evaluate(
        "m", {"valid": valid[0], "test": test[0]}, {"valid": valid[1], "test": test[1]}
    )
    assert [r["rule"] for r in rows] == list(threshold_rules.RULES)
    by_rule = {r["rule"]: r for r in rows}
    # The rare label needs its own threshold: per-label rules win on both.
    assert by_rule["per_label"]["test"]["macro_f1"] > by_rule["global"]["test"]["macro_f1"]
    assert (
        by_rule["per_label"]["valid_cross_fitted"]["mean_f1"]
        > by_rule["global"]["valid_cross_fitted"]["mean_f1"]
    )


def test_cross_fitting_never_scores_rows_it_tuned_on():
    probs, truth = _data(0, rows=10)
    seen = []
    original = threshold_rules.tune

    def spy(p, t, shrinkage):
        seen.append(len(t))
        return original(p, t, shrinkage)

    threshold_rules.tune = spy
    try:
        threshold_rules.cross_fitted(probs, truth, None, repeats=2)
    finally:
        threshold_rules.tune = original
    assert seen == [5, 5, 5, 5]
