"""The operating half's pure core: one control cycle as a deterministic function of
(state, measurements, wishes, operator actions, now), with no I/O, no Ray and no clock reads.

measurements  raw device values -> validated readings, each with a quality and a reason
states        the asset state machine (explicit transitions, a reason on each)
reserves      FCR / FCR-N / FCR-D droop from the measured frequency
resolution    priority layers that may only narrow the allowed power range
limits        the constraint limiter (BMS, inverter, SoC with reserve energy, POI share) and ramp limiter
schedules     site schedules and reserve commitments, looked up at an instant
pipeline      `step`: one cycle for one site -> new state and one command per asset
replay        record cycles and re-run them bit for bit
loop          the shell that owns the clock and the devices (absolute deadlines)
"""
