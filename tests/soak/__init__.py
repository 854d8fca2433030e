"""The soak: 1,000 tasks through a faulty, restarting simulator (``python -m tests.soak``)."""
