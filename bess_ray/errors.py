"""Errors a user can act on. Each names what is wrong and where, never a bare solver or parser code."""


class BessRayError(Exception):
    """Base class of every error bess-ray raises on purpose."""


class ConfigError(BessRayError, ValueError):
    """A configuration is invalid; the message names the field path and the reason."""


class DataError(BessRayError, ValueError):
    """A data series is unusable; the message lists the affected rows."""

    def __init__(self, message: str, issues: list | None = None):
        super().__init__(message)
        self.issues = issues or []


class InfeasibleError(BessRayError):
    """The optimisation problem has no solution; `families` names the constraint families in conflict."""

    def __init__(self, message: str, families: list[str] | None = None):
        super().__init__(message)
        self.families = families or []


class SolverError(BessRayError):
    """HiGHS stopped without an optimal solution for another reason than infeasibility."""
