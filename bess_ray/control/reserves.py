"""Frequency-containment reserves: the droop each product asks for at a measured frequency.

Activation is a share of the committed capacity in -1..1 (> 0 is discharge: low frequency asks for
power). Parameters are the products' technical requirements:

- FCR (Continental Europe): linear, full at +-200 mHz, insensitivity +-10 mHz allowed (ENTSO-E SO GL
  Art. 154, Annex V);
- FCR-N (Nordic): linear, full at +-100 mHz, no dead band;
- FCR-D up: from 49.9 Hz down to full at 49.5 Hz; FCR-D down: from 50.1 Hz up to full at 50.5 Hz.

aFRR is dispatched by the TSO's signal, not the frequency: its capacity is headroom here and its
activation arrives as a market obligation.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..markets import PRODUCTS


@dataclass(frozen=True)
class Droop:
    full_mhz: float        # deviation from the start of the band at which activation is full
    dead_band_mhz: float   # deviation from nominal below which nothing is activated
    up: bool = True        # answers low frequency (discharge)
    down: bool = True      # answers high frequency (charge)

    def activation(self, frequency_hz: float, nominal_hz: float = 50.0) -> float:
        """Share of the committed capacity to deliver, -1..1 (> 0 is discharge)."""
        dev_mhz = (nominal_hz - frequency_hz) * 1000.0  # > 0: frequency low, discharge
        if dev_mhz > 0 and not self.up or dev_mhz < 0 and not self.down:
            return 0.0
        excess = abs(dev_mhz) - self.dead_band_mhz
        if excess <= 0:
            return 0.0
        share = min(excess / (self.full_mhz - self.dead_band_mhz), 1.0)
        return share if dev_mhz > 0 else -share


DROOPS: dict[str, Droop] = {
    "fcr": Droop(full_mhz=200.0, dead_band_mhz=10.0),
    "fcr_n": Droop(full_mhz=100.0, dead_band_mhz=0.0),
    "fcr_d_up": Droop(full_mhz=500.0, dead_band_mhz=100.0, down=False),
    "fcr_d_down": Droop(full_mhz=500.0, dead_band_mhz=100.0, up=False),
}


def headroom(product: str) -> tuple[bool, bool]:
    """Does a commitment in `product` need headroom to discharge (up) and to charge (down)?"""
    direction = PRODUCTS[product].direction
    return direction in ("symmetric", "up"), direction in ("symmetric", "down")
