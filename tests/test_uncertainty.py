"""The 95% intervals beside numbers that summarise samples (relation accuracies, the probing
classifier): Wilson's score interval against values worked out by hand, and the classifier giving no
accuracy below MIN_HELDOUT_PAIRS pairs."""

import numpy as np
import pytest

from tb_attention_plugin.analysis.relations import MIN_HELDOUT_PAIRS, classify
from tb_attention_plugin.analysis.uncertainty import wilson_interval


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (0, 3, 0.0, 3.8415 / 6.8415),  # no success in 3: upper bound z^2 / (n + z^2)
        (3, 3, 3 / 6.8415, 1.0),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 10 / 13.8415, 1.0),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_wilson_interval_by_hand(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=2e-4) and hi == pytest.approx(high, abs=2e-4)


def test_wilson_interval_is_elementwise_and_nan_without_samples():
    lo, hi = wilson_interval(np.array([[0.0, 2.0], [np.nan, 1.0]]), np.array([4, 0]))
    assert np.isnan(lo[0, 1]) and np.isnan(hi[1, 1]) and np.isnan(lo[1, 0])  # n = 0; NaN successes
    assert lo[0, 0] == 0 and 0 < hi[0, 0] < 1


def _instances(n, words=4, heads=(2, 3), seed=0):
    """n instances whose head (0, 1) puts its most attention on the target word, the others noise."""
    rng = np.random.default_rng(seed)
    feats, targets = [], []
    for i in range(n):
        f = rng.random((words,) + heads).astype(np.float32) * 0.2
        target = i % (words - 1) + 1
        f[target, 0, 1] = 1.0
        f[0] = np.nan  # the source word itself
        feats.append(f)
        targets.append(target)
    return feats, targets


def test_the_classifier_gives_no_accuracy_below_the_minimum_but_its_weights():
    feats, targets = _instances(MIN_HELDOUT_PAIRS - 1)
    accuracy, weights = classify(feats, targets)
    assert np.isnan(accuracy)
    assert np.unravel_index(np.argmax(weights), weights.shape) == (0, 1)  # the head that picks the target
    accuracy, weights = classify(*_instances(MIN_HELDOUT_PAIRS))
    assert accuracy == 1.0
    lo, hi = wilson_interval(accuracy * MIN_HELDOUT_PAIRS, MIN_HELDOUT_PAIRS)
    assert (lo, hi) == pytest.approx((10 / 13.8415, 1.0), abs=2e-4)  # 10 of 10: still only >= 0.72
