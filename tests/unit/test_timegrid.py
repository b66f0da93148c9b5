"""The time grid's fast paths give what the slow, obvious ones give."""
import numpy as np
import polars as pl

from bess_ray.timegrid import utc_series


def test_utc_series_is_the_instants_in_zone_utc():
    ts = np.datetime64("2023-03-26T00:00", "us") + np.arange(12) * np.timedelta64(15, "m")  # across the DST change
    fast = utc_series(ts)
    assert fast.dtype == pl.Datetime("us", "UTC") and fast.name == "timestamp"
    assert fast.equals(pl.Series("timestamp", ts).dt.replace_time_zone("UTC"))
    assert fast.dt.convert_time_zone("Europe/Berlin").dt.hour().to_list()[:12] == [1] * 4 + [3] * 4 + [4] * 4
