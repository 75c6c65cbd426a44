"""Shared test settings: hypothesis runs a fixed, derandomised set of examples."""

from hypothesis import settings

# derandomize: the same examples on every run and machine, so the suite is
# deterministic; deadline off: a shared 2-core machine has slow moments.
settings.register_profile("repo", derandomize=True, deadline=None, max_examples=30)
settings.load_profile("repo")
