# Uses a TUN device in its own network namespace: one at a time.
set_tests_properties(unit/${PM_TARGET} PROPERTIES RUN_SERIAL TRUE TIMEOUT 120)
