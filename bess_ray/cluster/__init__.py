"""Ray: the only package (with serve/) that imports ray. Tasks call the plain functions of the core."""
