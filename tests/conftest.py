"""Settings for the whole suite.

Hypothesis's per-example deadline is a wall-clock assertion: on a loaded 2-core machine a
parser example can take 600 ms once and 5 ms the next time, and the test then fails for
timing, not behaviour. Speed is measured in ``bench/``, never asserted in tests.
"""

from hypothesis import settings

settings.register_profile("voxplane", deadline=None)
settings.load_profile("voxplane")
