"""Market and profile data: reading, checking, aligning, bundled samples."""
from .market import MarketPrices, align, load_market_prices
from .quality import DataIssue, DataReport
from .samples import SAMPLES
from .series import Series, read_series

__all__ = ["DataIssue", "DataReport", "MarketPrices", "SAMPLES", "Series", "align", "load_market_prices",
           "read_series"]
