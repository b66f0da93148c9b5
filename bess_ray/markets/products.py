"""Market products: what a battery sells, in which direction, in which blocks.

Capacity prices are held in EUR/MW/h inside bess-ray; a price quoted per block is divided by the
block length on import. Energy reservation durations are the defaults a site can override:

- FCR (Continental Europe, FCR cooperation): 15 min each way. Source: SO GL (EU 2017/1485)
  Art. 156(9)-(10) and the CE TSOs' 2020 decision on the minimum activation period for limited
  energy reservoirs (LER), which German PQ conditions adopt as the "15-minute criterion".
- aFRR: 1 h each way. A modelling choice, not a grid code figure: aFRR is activated from the merit
  order and rarely runs at full power for a whole 4-hour block; raise it for a conservative plan.
- FCR-N: 1 h each way; FCR-D: 20 min. Source: Nordic TSOs, "Technical Requirements for Frequency
  Containment Reserve Provision in the Nordic Synchronous Area" (2023), LER endurance requirements.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

Direction = Literal["energy", "up", "down", "symmetric"]


@dataclass(frozen=True)
class Product:
    name: str
    label: str
    direction: Direction
    block_hours: float  # length of one bid block; energy products: the price resolution
    energy_duration_h: float = 0.0  # default full-activation duration each way (reserves)

    @property
    def is_reserve(self) -> bool:
        return self.direction != "energy"

    @property
    def provides_up(self) -> bool:
        return self.direction in ("up", "symmetric")

    @property
    def provides_down(self) -> bool:
        return self.direction in ("down", "symmetric")


PRODUCTS: dict[str, Product] = {
    p.name: p
    for p in (
        Product("da", "day-ahead energy", "energy", 0.25),
        Product("fcr", "FCR (symmetric, 4-h blocks)", "symmetric", 4.0, 0.25),
        Product("afrr_up", "aFRR capacity up (4-h blocks)", "up", 4.0, 1.0),
        Product("afrr_down", "aFRR capacity down (4-h blocks)", "down", 4.0, 1.0),
        Product("fcr_n", "Nordic FCR-N (symmetric, hourly)", "symmetric", 1.0, 1.0),
        Product("fcr_d_up", "Nordic FCR-D up (hourly)", "up", 1.0, 1.0 / 3.0),
        Product("fcr_d_down", "Nordic FCR-D down (hourly)", "down", 1.0, 1.0 / 3.0),
    )
}
RESERVE_PRODUCTS = tuple(n for n, p in PRODUCTS.items() if p.is_reserve)

# Named product sets: the optimiser kernels of the issue tracker and the CLI's --products shortcuts.
KERNELS: dict[str, tuple[str, ...]] = {
    "da_only": ("da",),
    "da_plus_fcr": ("da", "fcr"),
    "da_plus_afrr": ("da", "afrr_up", "afrr_down"),
    "da_plus_fcr_afrr": ("da", "fcr", "afrr_up", "afrr_down"),
    "da_plus_fcrn_fcrd": ("da", "fcr_n", "fcr_d_up", "fcr_d_down"),
}


def get_product(name: str) -> Product:
    try:
        return PRODUCTS[name]
    except KeyError:
        raise ConfigError(f"unknown product {name!r}; known: {', '.join(PRODUCTS)}") from None


def parse_products(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Turn 'da_plus_fcr', 'da,fcr' or ['da', 'fcr'] into a validated product tuple (DA first)."""
    items = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            names.extend(KERNELS.get(part, (part,)))
    for n in names:
        get_product(n)
    unique = list(dict.fromkeys(names))
    if "da" not in unique:
        raise ConfigError("the product selection must include 'da' (day-ahead energy)")
    return tuple(sorted(unique, key=list(PRODUCTS).index))
