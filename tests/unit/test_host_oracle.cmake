# Network namespace and sysctls: run alone.
set_tests_properties(unit/${PM_TARGET} PROPERTIES RUN_SERIAL TRUE TIMEOUT 300)
