# Network namespace of its own, loopback traffic, CPU pinning: run alone.
set_tests_properties(unit/${PM_TARGET} PROPERTIES RUN_SERIAL TRUE TIMEOUT 180)
