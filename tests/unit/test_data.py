"""Reading, checking and aligning real and broken price files."""
import numpy as np
import polars as pl
import pytest

from bess_ray.data import load_market_prices, read_series
from bess_ray.data.market import align
from bess_ray.errors import DataError
from bess_ray.timegrid import TimeGrid


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def hourly_csv(n=48, start="2023-01-01T00:00:00Z", col="price_eur_mwh", value=lambda i: 50.0 + i):
    ts = pl.datetime_range(pl.datetime(2023, 1, 1), pl.datetime(2023, 1, 1) + pl.duration(hours=n - 1), "1h",
                           eager=True)
    lines = [f"timestamp_utc,{col}"] + [f"{t:%Y-%m-%dT%H:%M:%SZ},{value(i)}" for i, t in enumerate(ts)]
    return lines


@pytest.mark.parametrize("ref,zone,cols,rows", [
    ("sample:DE_LU_2023", None, ["da"], 8760),
    ("sample:NORDIC_2023", "SE3", ["da"], 8760),
    ("sample:FCR_2021", "DE-LU", ["fcr"], 2190),
    ("sample:DK2_FCR_NORDIC_2021", None, ["fcr_n", "fcr_d_up"], 8760),
    ("sample:DE_AFRR_UP_2015_2017", None, ["afrr_up"], None),
    ("sample:DE_SOLAR_2024", None, ["profile"], 8783),
])
def test_bundled_samples_read_clean(ref, zone, cols, rows):
    s = read_series(ref, zone=zone)
    assert s.columns == cols and s.report.ok
    assert rows is None or s.frame.height == rows
    assert s.frame["timestamp"].dtype == pl.Datetime("us", "UTC")


def test_fcr_block_price_becomes_per_hour():
    s = read_series("sample:FCR_2021", zone="DE-LU")
    first = s.frame.row(0, named=True)
    # 01-01-2021 NEGPOS_00_04, DE: 22.99 EUR/MW per 4-h block = 5.7475 EUR/MW/h, block starts 00:00 CET
    assert first["fcr"] == pytest.approx(22.99 / 4)
    assert f"{first['timestamp']:%Y-%m-%dT%H:%M}" == "2020-12-31T23:00"


def test_real_duplicate_in_belgian_fcr_results_is_reported_with_rows():
    with pytest.raises(DataError) as e:
        read_series("sample:FCR_2021", zone="BE")
    assert "duplicate" in str(e.value) and "980" in str(e.value)


def test_energinet_file_is_sorted_and_nordic_long_format_picks_zone():
    s = read_series("sample:DK2_FCR_NORDIC_2021")
    assert s.frame["timestamp"].is_sorted()
    se3 = read_series("sample:NORDIC_2023", zone="SE3").frame
    fi = read_series("sample:NORDIC_2023", zone="FI").frame
    assert f"{fi['timestamp'][0]:%H}" == "22"  # FI publishes local +02:00, SE3 +01:00
    assert f"{se3['timestamp'][0]:%Y-%m-%dT%H:%M}" == "2022-12-31T23:00"


def test_gap_duplicate_nan_unsorted_are_reported_with_rows(tmp_path):
    lines = hourly_csv(12)
    del lines[5]                      # gap after the 4th data row
    lines[8] = lines[8].rsplit(",", 1)[0] + ",NaN"
    lines.insert(10, lines[9])        # duplicate
    lines[2], lines[3] = lines[3], lines[2]  # unsorted
    with pytest.raises(DataError) as e:
        read_series(write(tmp_path, "bad.csv", "\n".join(lines)))
    msg = str(e.value)
    kinds = {i.kind for i in e.value.issues}
    assert {"nan", "unsorted", "duplicate"} <= kinds
    assert "nan: 1 missing or NaN value(s) at rows 9" in msg
    assert "unsorted: timestamp earlier than the row before at rows 4" in msg


def test_gap_is_reported_and_filled_only_when_asked(tmp_path):
    lines = hourly_csv(12)
    del lines[5:7]
    path = write(tmp_path, "gap.csv", "\n".join(lines))
    with pytest.raises(DataError, match=r"gap: 2 missing interval\(s\) in 1 gap\(s\), first after 2023-01-01T03:00Z at rows 6"):
        read_series(path)
    s = read_series(path, fill="linear")
    assert s.frame.height == 12 and s.report.filled == 2
    assert s.values("da")[4] == pytest.approx(54.0)


def test_dst_artefact_local_clock_exported_as_utc(tmp_path):
    # a file that claims UTC but skips 02:00 on the spring DST day: local times in disguise
    ts = pl.datetime_range(pl.datetime(2023, 3, 25), pl.datetime(2023, 3, 27), "1h", eager=True)
    rows = [f"{t:%Y-%m-%dT%H:%M:%SZ},10" for t in ts if not (t.day == 26 and t.hour == 2)]
    with pytest.raises(DataError) as e:
        read_series(write(tmp_path, "dst.csv", "timestamp_utc,price_eur_mwh\n" + "\n".join(rows)), zone="DE-LU")
    assert [i.kind for i in e.value.issues] == ["dst_artefact"]


def test_naive_local_times_are_converted_with_dst(tmp_path):
    # local clock times with a repeated hour in October: both 02:00 map to the same UTC -> reported
    rows = ["2023-10-29 00:00:00,1", "2023-10-29 01:00:00,1", "2023-10-29 02:00:00,1", "2023-10-29 02:00:00,1",
            "2023-10-29 03:00:00,1"]
    with pytest.raises(DataError, match="dst_artefact"):
        read_series(write(tmp_path, "l.csv", "time,price_eur_mwh\n" + "\n".join(rows)), tz="Europe/Berlin",
                    zone="DE-LU")


def test_units(tmp_path):
    kwh = write(tmp_path, "kwh.csv", "\n".join(hourly_csv(48, value=lambda i: 0.05 + i / 1000)).replace(
        "price_eur_mwh", "price"))
    with pytest.raises(DataError, match="EUR/kWh instead of EUR/MWh"):
        read_series(kwh)
    assert read_series(kwh, unit="eur_kwh").values("da")[0] == pytest.approx(50.0)
    dkk = write(tmp_path, "dkk.csv", "\n".join(hourly_csv(4, col="price_dkk_mwh")))
    with pytest.raises(DataError, match="prices must be in EUR"):
        read_series(dkk)
    cap = write(tmp_path, "cap.csv", "\n".join(hourly_csv(4, col="fcr_eur_mwh")))
    with pytest.raises(DataError, match="fcr needs a capacity price"):
        read_series(cap)
    block = write(tmp_path, "block.csv", "\n".join(hourly_csv(4, col="price_eur_mw_block")))
    s = read_series(block, product="afrr_up")
    assert s.values("afrr_up")[0] == pytest.approx(50.0)  # hourly blocks: per block == per hour


def test_not_a_number_and_missing_file(tmp_path):
    lines = hourly_csv(6)
    lines[3] = lines[3].rsplit(",", 1)[0] + ",abc"
    with pytest.raises(DataError, match=r"not a number at rows \[4\]"):
        read_series(write(tmp_path, "t.csv", "\n".join(lines)))
    with pytest.raises(DataError, match="no such file"):
        read_series(tmp_path / "missing.csv")


def test_parquet_input(tmp_path):
    frame = pl.DataFrame({"timestamp": pl.datetime_range(pl.datetime(2023, 1, 1), pl.datetime(2023, 1, 1, 23), "1h",
                                                         eager=True, time_zone="UTC"),
                          "price_eur_mwh": np.arange(24.0)})
    frame.write_parquet(tmp_path / "p.parquet")
    assert read_series(tmp_path / "p.parquet").values("da").tolist() == list(range(24))


def test_align_holds_hourly_and_blocks_and_averages_finer():
    grid = TimeGrid.from_range("2023-01-02", "2023-01-03", "15min")
    da = read_series("sample:DE_LU_2023")
    values = align(da, "da", grid)
    hourly = da.frame.filter(pl.col("timestamp") >= pl.datetime(2023, 1, 2, time_zone="UTC"))["da"][:24].to_numpy()
    assert np.array_equal(values.reshape(24, 4), np.repeat(hourly[:, None], 4, axis=1))
    fcr = align(read_series("sample:FCR_2021@2023", zone="DE-LU"), "fcr", grid)
    # FCR blocks run on CET: 00:00 UTC is 01:00 CET, so the first block ends at 03:00 UTC
    assert len(set(fcr[:12])) == 1 and fcr[12] != fcr[11] and len(set(fcr[12:28])) == 1
    hourly_grid = TimeGrid.from_range("2023-01-02", "2023-01-03", "60min")
    assert np.allclose(align(da, "da", hourly_grid), hourly)
    # finer data onto a coarser grid is averaged
    quarter = TimeGrid.from_range("2023-01-02", "2023-01-03", "15min")
    from bess_ray.data.market import series_from_frame
    fine = series_from_frame(pl.DataFrame({"timestamp": pl.Series(quarter.timestamps).dt.replace_time_zone("UTC"),
                                           "da": np.arange(96.0)}))
    assert np.allclose(align(fine, "da", hourly_grid), np.arange(96.0).reshape(24, 4).mean(axis=1))


def test_window_outside_data_names_missing_intervals():
    with pytest.raises(DataError, match=r"does not cover 100 of 192 intervals .*: 2023-12-31T23:00:00Z"):
        load_market_prices("DE-LU", ("da",), "sample:DE_LU_2023", start="2023-12-31T00:00Z", end="2024-01-02T00:00Z")


def test_missing_reserve_price_is_named():
    with pytest.raises(DataError, match="no prices for fcr"):
        load_market_prices("DE-LU", ("da", "fcr"), "sample:DE_LU_2023", start="2023-01-02", end="2023-01-03")


def test_restamp_keeps_weekdays_and_covers_the_year():
    s = read_series("sample:FCR_2021@2023", zone="DE-LU").frame
    assert f"{s['timestamp'].min():%Y-%m-%dT%H}" == "2022-12-31T23" and f"{s['end'].max():%Y-%m-%dT%H}" == "2023-12-31T23"
    orig = read_series("sample:FCR_2021", zone="DE-LU").frame
    # 2021-03-03 was a Wednesday; 728 days later is 2023-03-01, a Wednesday: same price
    a = orig.filter(pl.col("timestamp") == pl.datetime(2021, 3, 3, 11, time_zone="UTC"))["fcr"].item()
    b = s.filter(pl.col("timestamp") == pl.datetime(2023, 3, 1, 11, time_zone="UTC"))["fcr"].item()
    assert a == b
