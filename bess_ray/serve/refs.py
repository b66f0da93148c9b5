"""What a config submitted over HTTP may reference: bundled samples (`sample:NAME`) and stored
scenarios (`scenario:NAME`), never files of the server, and no custom Python code."""
import re

from ..data.series import base_ref
from ..errors import ConfigError, DataError
from ..store.scenarios import ScenarioStore

FILE_LIKE = re.compile(r"(^[/~.]|[/\\]|\.(csv|parquet|pq|ya?ml|json|py|txt|xlsx?)$)", re.IGNORECASE)
NOT_REFS = {"name", "description", "tz", "timezone", "id", "reason", "label"}  # free text, never read


def check_refs(obj, scenarios: ScenarioStore | None, path: str = "") -> None:
    """Every data reference in a config submitted over HTTP must be a bundled sample or a stored
    scenario: a path would read the server's files. Custom Python forecasters are refused. Without
    `scenarios` a stored scenario's name is not looked up here (reading it names a missing one)."""
    if isinstance(obj, dict):
        if obj.get("type") == "custom_python":  # it imports and runs any class the server can import
            raise ConfigError(f"{path}: a custom_python forecaster runs code on the server and is not "
                              "accepted over HTTP; run it with the CLI or from Python")
        refuse_code(obj, path)
        for k, v in obj.items():
            if k == "frequency" and isinstance(v, str):  # a through_control block's measured frequency
                _check_frequency(v, f"{path}.{k}" if path else k)
            elif k not in NOT_REFS:
                check_refs(v, scenarios, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            check_refs(v, scenarios, f"{path}.{i}" if path else str(i))  # dotted, as pydantic names fields
    elif isinstance(obj, str):
        ref = base_ref(obj)
        if ref.startswith("sample:"):
            from ..data.samples import sample_path

            try:
                sample_path(ref.removeprefix("sample:"))
            except DataError as e:
                raise ConfigError(f"{path}: {e}") from None
        elif ref.startswith("scenario:"):
            if scenarios is not None and scenarios.get(ref.removeprefix("scenario:")) is None:
                raise ConfigError(f"{path}: unknown scenario {ref.removeprefix('scenario:')!r} "
                                  "(GET /v1/scenarios lists them)")
        elif FILE_LIKE.search(ref):
            raise ConfigError(f"{path}: {obj!r} names a file; over HTTP use sample:NAME or scenario:NAME "
                              "(upload series with POST /v1/scenarios)")


def scenario_names(obj) -> list[str]:
    """The stored scenarios a submitted config references anywhere (a site's PV profile, ...)."""
    if isinstance(obj, dict):
        return [n for k, v in obj.items() if k not in NOT_REFS for n in scenario_names(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in scenario_names(v)]
    if isinstance(obj, str) and base_ref(obj).startswith("scenario:"):
        return [base_ref(obj).removeprefix("scenario:")]
    return []


def refuse_code(site_like: dict, path: str = "") -> None:
    """A site's `constraints` name Python functions to run on the server: not over HTTP."""
    if isinstance(site_like, dict) and site_like.get("constraints"):
        where = f"{path}.constraints" if path else "constraints"
        raise ConfigError(f"{where}: site constraints run Python code on the server and are not accepted over HTTP; "
                          "use them from a site file with the CLI or from Python")


def _check_frequency(ref: str, path: str) -> None:
    from ..data.frequency import FREQUENCY_SAMPLES

    if ref in ("auto", "nominal") or ref.removeprefix("sample:") in FREQUENCY_SAMPLES and ref.startswith("sample:"):
        return
    raise ConfigError(f"{path}: {ref!r}: over HTTP the frequency is auto, nominal or one of the bundled samples "
                      f"({', '.join('sample:' + n for n in FREQUENCY_SAMPLES)})")
