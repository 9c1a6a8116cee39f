"""How sure a number that summarises samples is: the 95% interval shown beside it (the tab, the
summary, read_run).

Wilson's score interval (Wilson 1927) for a proportion of successes among n samples: unlike the
normal approximation it stays within [0, 1] and keeps its coverage for small n and for proportions
near 0 or 1 (Brown, Cai and DasGupta 2001), which is where relation probes live (tens of pairs,
accuracies of 0 or 1).
"""

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes, n, z=Z95):
    """(low, high) of the Wilson score interval of successes / n, elementwise (arrays broadcast);
    NaN where n is 0 or successes is NaN."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z * np.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
        low, high = centre - half, centre + half
    bad = ~(n > 0) | np.isnan(k)
    return np.where(bad, np.nan, np.clip(low, 0, 1)), np.where(bad, np.nan, np.clip(high, 0, 1))
