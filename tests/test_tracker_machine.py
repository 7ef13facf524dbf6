"""Run the tracker state machine (``trio_hl.testing.tracker_machine``) against the model venue."""

from hypothesis import HealthCheck, settings

from trio_hl.testing.tracker_machine import TrackerMachine

TestTrackerMachine = TrackerMachine.TestCase
TestTrackerMachine.settings = settings(
    settings.default,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow],
)
