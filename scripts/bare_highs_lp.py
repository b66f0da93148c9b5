"""Reference for the cold-start benchmark: the DE-LU example site's 2023 day-ahead LP built with
plain numpy + scipy.sparse and solved by HiGHS, with no bess-ray code at all.

Usage: python scripts/bare_highs_lp.py [PRICES.csv]
"""
import csv
import sys
import time
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp

t0 = time.perf_counter()
path = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    Path(__file__).resolve().parents[1] / "bess_ray/data/samples/day_ahead/DE_LU_2023_hourly.csv"
with open(path) as fh:
    prices = np.array([float(r["price_eur_mwh"]) for r in csv.DictReader(fh)])
p = np.repeat(prices, 4)  # hourly prices held over 15 minutes
T, dt, P, E, eta, s0 = p.size, 0.25, 1.0, 2.0, 0.95, 1.0
# columns: charge[T], discharge[T], soc[T]; soc_t = soc_{t-1} + eta dt c_t - dt/eta d_t; soc_T >= s0
i = np.arange(T)
rows = np.concatenate([i, i, i, i[1:], [T]])
cols = np.concatenate([2 * T + i, i, T + i, 2 * T + i[1:] - 1, [3 * T - 1]])
vals = np.concatenate([np.ones(T), np.full(T, -eta * dt), np.full(T, dt / eta), -np.ones(T - 1), [1.0]])
a = sp.csc_matrix((vals, (rows, cols)), shape=(T + 1, 3 * T))
row_lo = np.r_[s0, np.zeros(T - 1), s0]
row_hi = np.r_[s0, np.zeros(T - 1), np.inf]
h = highspy.Highs()
h.setOptionValue("output_flag", False)
h.setOptionValue("threads", 1)
h.passModel(3 * T, T + 1, a.nnz, 1, 1, 0.0, np.r_[p * dt, -p * dt, np.zeros(T)], np.zeros(3 * T),
            np.r_[np.full(2 * T, P), np.full(T, E)], row_lo, row_hi, a.indptr.astype(np.int32),
            a.indices.astype(np.int32), a.data, np.zeros(3 * T, dtype=np.int32))
t1 = time.perf_counter()
h.run()
t2 = time.perf_counter()
print(f"status {h.getModelStatus()}, revenue {-h.getInfo().objective_function_value:,.2f} EUR, "
      f"build {t1 - t0:.3f} s, solve {t2 - t1:.3f} s")
