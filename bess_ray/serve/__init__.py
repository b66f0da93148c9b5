"""The HTTP API: `app.py` (Ray Serve deployments and FastAPI routes; `build_app` is named in
deployments/serve.yaml) and `schedules.py` (the schedule request and its solve, free of Ray).
Importing this package does not import Ray."""
