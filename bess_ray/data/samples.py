"""Bundled real market data (see samples/PROVENANCE.md for sources and licences).

A sample is referenced as `sample:NAME`; each entry says how its file is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

SAMPLES_DIR = Path(__file__).parent / "samples"


@dataclass(frozen=True)
class Sample:
    file: str
    description: str
    options: dict = field(default_factory=dict)  # read_series keyword defaults


SAMPLES: dict[str, Sample] = {
    "DE_LU_2023": Sample("day_ahead/DE_LU_2023_hourly.csv", "DE-LU day-ahead 2023, hourly (ENTSO-E)"),
    "DE_LU_2024": Sample("day_ahead/DE_LU_2024_hourly.csv", "DE-LU day-ahead 2024, hourly (ENTSO-E / Energy-Charts)"),
    "BE_2023": Sample("day_ahead/BE_2023_hourly.csv", "BE day-ahead 2023, hourly (ENTSO-E)"),
    "SE3_2023": Sample("day_ahead/SE3_2023_hourly.csv", "SE3 day-ahead 2023, hourly (ENTSO-E)"),
    "FI_2023": Sample("day_ahead/FI_2023_hourly.csv", "FI day-ahead 2023, hourly, with the -500 EUR/MWh event (ENTSO-E)"),
    "DK1_2023": Sample("day_ahead/DK1_2023_hourly.csv", "DK1 day-ahead 2023, hourly (ENTSO-E)"),
    "NORDIC_2023": Sample(
        "day_ahead/NORDIC_12zones_2023_hourly_local.csv",
        "12 Nordic zones day-ahead 2023, hourly, long format; pick one with zone= (ENTSO-E)",
    ),
    "FCR_2021": Sample(
        "reserves/FCR_tender_results_2021.csv",
        "FCR cooperation tender results 2021, 4-h blocks, EUR/MW per block per country; pick with zone= (regelleistung.net)",
    ),
    "DK2_FCR_NORDIC_2020": Sample("reserves/DK2_FCR-N_FCR-D_2020_hourly.csv", "DK2 FCR-N and FCR-D up 2020, EUR/MW/h (Energinet)"),
    "DK2_FCR_NORDIC_2021": Sample("reserves/DK2_FCR-N_FCR-D_2021_hourly.csv", "DK2 FCR-N and FCR-D up 2021, EUR/MW/h (Energinet)"),
    "DE_AFRR_UP_2015_2017": Sample(
        "reserves/DE_aFRR_up_capacity_2015_2017_4h.csv",
        "German aFRR up capacity 2015-2017, 4-h steps, derived series, low confidence: a price shape, not a market fact",
        {"product": "afrr_up", "unit": "eur_mw_block", "tz": "Europe/Berlin"},
    ),
    "DE_AFRR_DOWN_2015_2017": Sample(
        "reserves/DE_aFRR_down_capacity_2015_2017_4h.csv",
        "German aFRR down capacity 2015-2017, 4-h steps, derived series, low confidence: a price shape, not a market fact",
        {"product": "afrr_down", "unit": "eur_mw_block", "tz": "Europe/Berlin"},
    ),
    "DE_SOLAR_2024": Sample(
        "profiles/DE_national_solar_2024_hourly.csv",
        "German national PV 2024, hourly share of the year's maximum (Energy-Charts, CC BY 4.0)",
        {"column": "solar_share_of_max", "product": "profile"},
    ),
    "FR_HOUSEHOLD_PV_2024": Sample(
        "profiles/FR_household_load_pv_30min.csv",
        "one French household's PV power W, 30 min, 2024-02..2025-02 (EMHASS example data, MIT)",
        {"column": "pv_power_W", "product": "profile", "fill": "zero"}  # NaN is night,
    ),
}


def sample_path(name: str) -> tuple[Path, dict]:
    """The file and reading options of a bundled sample; the name may also be its file stem."""
    key = name.upper()
    for sample_name, sample in SAMPLES.items():
        if key in (sample_name, Path(sample.file).stem.upper()):
            return SAMPLES_DIR / sample.file, dict(sample.options)
    raise DataError(f"unknown sample {name!r}; bundled: {', '.join(SAMPLES)}")


def known_answer_cases() -> list[dict]:
    import json

    return json.loads((SAMPLES_DIR / "known_answers" / "energypylinear_cases.json").read_text())
