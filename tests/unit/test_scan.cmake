# The output writers live with the command (tools/); the test links them.
target_sources(${PM_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/tools/scan_output.c
                                    ${PROJECT_SOURCE_DIR}/tools/json.c)
target_include_directories(${PM_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/tools)
