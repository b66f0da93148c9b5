"""Zone adapters: which products a bidding zone has, in which local time its blocks run.

Block products (FCR, aFRR) are auctioned in 4-hour blocks of local time (00-04, 04-08, ... CET/CEST
for the whole FCR cooperation); Nordic FCR-N / FCR-D are hourly. On daylight-saving days the local
night block is 3 or 5 hours long; blocks are always computed from UTC instants, never from naive
clock times.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .products import get_product

CE = ("da", "fcr", "afrr_up", "afrr_down")
NORDIC = ("da", "fcr_n", "fcr_d_up", "fcr_d_down")


@dataclass(frozen=True)
class Zone:
    code: str
    timezone: str  # local time of the market day and of its blocks
    products: tuple[str, ...]
    fcr_country: str | None = None  # column prefix in FCR cooperation tender results
    block_timezone: str = "Europe/Berlin"  # FCR cooperation blocks run on CET/CEST

    def product_timezone(self, product: str) -> str:
        return self.block_timezone if get_product(product).block_hours >= 4 else self.timezone

    def check_products(self, products) -> None:
        missing = [p for p in products if p not in self.products]
        if missing:
            raise ValueError(
                f"zone {self.code} has no market for {', '.join(missing)}; "
                f"available: {', '.join(self.products)}"
            )


ZONES: dict[str, Zone] = {
    z.code: z
    for z in (
        Zone("DE-LU", "Europe/Berlin", CE, "DE"),
        Zone("AT", "Europe/Vienna", CE, "AT"),
        Zone("BE", "Europe/Brussels", CE, "BE"),
        Zone("NL", "Europe/Amsterdam", CE, "NL"),
        Zone("FR", "Europe/Paris", CE, "FR"),
        Zone("CH", "Europe/Zurich", CE, "CH"),
        Zone("DK1", "Europe/Copenhagen", CE, "DK"),
        Zone("DK2", "Europe/Copenhagen", NORDIC, block_timezone="Europe/Copenhagen"),
        Zone("SE1", "Europe/Stockholm", NORDIC, block_timezone="Europe/Stockholm"),
        Zone("SE2", "Europe/Stockholm", NORDIC, block_timezone="Europe/Stockholm"),
        Zone("SE3", "Europe/Stockholm", NORDIC, block_timezone="Europe/Stockholm"),
        Zone("SE4", "Europe/Stockholm", NORDIC, block_timezone="Europe/Stockholm"),
        Zone("FI", "Europe/Helsinki", NORDIC, block_timezone="Europe/Helsinki"),
        *(Zone(f"NO{i}", "Europe/Oslo", NORDIC, block_timezone="Europe/Oslo") for i in range(1, 6)),
    )
}


def get_zone(code: str) -> Zone:
    key = code.upper().replace("_", "-")
    key = {"DE": "DE-LU", "DELU": "DE-LU"}.get(key, key)
    if key not in ZONES:
        key = key.replace("-", "")  # SE-3, DK-2, NO-1 spellings
    try:
        return ZONES[key]
    except KeyError:
        raise ConfigError(f"unknown zone {code!r}; known: {', '.join(ZONES)}") from None
