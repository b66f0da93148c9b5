"""Protocol adapters that only translate, and the field simulator.

Device conventions (sign, units, scale factors, register maps, state codes) are mapped here and only
here: what leaves this package is in bess-ray's units, power > 0 is discharge.

sunspec   SunSpec information models from pysunspec2's definitions: point offsets, types, decoding
registers the register-map YAML (SunSpec points or plain registers) and its validation
modbus    the Modbus TCP adapter (pymodbus async client): reads, writes with read-back, heartbeat
mqtt      the MQTT adapter (aiomqtt): telemetry, commands at QoS 1 acknowledged by id, last will
connect   a device URL (sim, modbus://, mqtt://) -> an adapter
fieldsim/ the field simulator: battery physics, faults, SunSpec over Modbus TCP and MQTT
"""
