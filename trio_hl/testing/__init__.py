"""Public testing helpers: pytest plugin, Hypothesis strategies, the tracker state machine."""
