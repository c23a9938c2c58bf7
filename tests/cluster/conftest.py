"""The `cluster` marker, and the Slurm test's figures at the end of the pytest output."""

import pytest

FIGURES: list[str] = []  # lines the cluster tests report (job counts, wall times)


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: runs the workflow on a real (private, single-node) Slurm cluster")


@pytest.fixture
def report_figure():
    """Record a line for the end of the pytest output (shown even with -q, unlike print)."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter):
    for line in FIGURES:
        terminalreporter.write_line(line)
