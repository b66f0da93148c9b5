"""Simulation: battery physics, degradation, co-located generation, finance (plain Python + numba).

Present so far: rainflow cycle counting (`rainflow.py`) and project finance (`finance.py`).
"""
