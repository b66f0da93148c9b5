"""The field simulator: a test tool that behaves like battery inverters on the wire, faults included.

plant    battery + inverter + BMS physics (SoC, efficiencies, standby loss, tapering BMS limits,
         response delay, ramp) and the SunSpec 704 setpoint reversion
faults   the fault catalogue and fault files
modbus   SunSpec over Modbus TCP (pymodbus server), one unit id per battery
mqtt     the same plants over MQTT (telemetry, commands, acknowledgements, last will)
run      `bess-ray fieldsim`: the plants, their clock and the servers together

Plain TCP without credentials: never expose it beyond a test network.
"""
