"""Regenerate tests/data/blast_lite_reference.json: capacity after 10 years from NREL's BLAST-Lite.

BLAST-Lite pins numpy < 2, which the rest of the stack (pyarrow, Ray) cannot use, so it runs in its
own environment and the test compares bess-ray's life models against the values stored here:

    python -m venv /tmp/blast && /tmp/blast/bin/pip install blast-lite==1.1.1
    /tmp/blast/bin/python scripts/blast_lite_reference.py > tests/data/blast_lite_reference.json

Three weekly SoC profiles at 15 minutes (continuous 12-hour cycling 10-90 %, one 80 % cycle a day
with rests, rest at 50 %), 25 and 35 C, weekly updates, for the LFP and NMC models bess-ray uses.
"""
import json

import numpy as np
from importlib.metadata import version as _version
from blast.models import Lfp_Gr_250AhPrismatic, Nmc111_Gr_Sanyo2Ah_Battery

DT_S = 900.0
t = np.arange(0, 7 * 86400 + 1, DT_S)
h = t / 3600
day = h % 24
profiles = {
    "continuous_12h_10_90": 0.5 + 0.4 * (4 * np.abs((h / 12) % 1 - 0.5) - 1),
    "daily_80pct_with_rests": np.select(
        [day < 1.6, day < 12, day < 13.6], [0.1 + 0.5 * day, 0.9, 0.9 - 0.5 * (day - 12)], 0.1),
    "rest_50pct": np.full(t.size, 0.5),
}
out = {"blast_lite_version": _version("blast-lite"), "dt_hours": DT_S / 3600, "weeks": 520, "cases": []}
for name, soc in profiles.items():
    for temp in (25.0, 35.0):
        for chem, cls in (("lfp", Lfp_Gr_250AhPrismatic), ("nmc", Nmc111_Gr_Sanyo2Ah_Battery)):
            m = cls()
            for w in range(out["weeks"]):
                m.update_battery_state(t + w * 7 * 86400, soc, np.full(t.size, temp))
            out["cases"].append({"profile": name, "temperature_c": temp, "chemistry": chem,
                                 "q": float(m.outputs["q"][-1]), "efc": float(m.stressors["efc"][-1])})
out["profiles"] = {k: v.round(6).tolist() for k, v in profiles.items()}
print(json.dumps(out))
