"""Shared test configuration: Hypothesis profiles.

``default`` is fast enough for every CI run; ``ci-deep`` is the long fuzz (``HYPOTHESIS_PROFILE=ci-deep``).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci-deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytest_plugins = ["pytester"]
