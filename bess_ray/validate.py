"""`bess-ray validate`: a site config and the data it references, checked before anything runs."""
from __future__ import annotations

from pathlib import Path

from .config import PV, Site, Wind
from .data.market import load_market_prices
from .data.series import read_series
from .timegrid import iso


def validate_file(path: Path, prices=None, reserve_prices=None, fill: str | None = None) -> list[str]:
    """Lines of a report; raises ConfigError / DataError naming the first hard problem."""
    site = Site.from_yaml(path)
    base = Path(path).parent
    lines = [f"{path}: site {site.id} in {site.zone}, {len(site.batteries)} battery(ies), "
             f"products {', '.join(site.markets.products)}: config ok"]
    for asset in site.assets:
        if isinstance(asset, (PV, Wind)):
            series = read_series(asset.profile, product="profile", base_dir=base, fill=fill)
            lines.append(f"  {asset.type} {asset.id}: profile {series.report}")
    if prices:
        market = load_market_prices(site.zone, site.markets.products, prices, reserve_prices, fill=fill,
                                    base_dir=base)
        lines.append(f"  prices cover {market.grid.periods} intervals from {iso(market.grid.start)} for "
                     f"{', '.join(market.prices)}: ok")
    return lines
