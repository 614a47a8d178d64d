# Where the scripts are: the project's (tests/drill/linux) and the shared suite.
target_compile_definitions(${PM_TARGET} PRIVATE PM_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                                PM_SHARED_DIR="${PM_SHARED_DIR}")
