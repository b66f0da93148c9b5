"""KPIs, plots and reports. Plain Python: imports matplotlib only when a plot is drawn."""
