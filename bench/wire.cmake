# The peer: DPDK's rte_raw_cksum (Debian dpdk-dev), header-only here.
pkg_check_modules(PM_DPDK QUIET libdpdk)
if(PM_DPDK_FOUND)
  target_compile_definitions(${PM_TARGET} PRIVATE PM_HAVE_DPDK)
  target_include_directories(${PM_TARGET} SYSTEM PRIVATE ${PM_DPDK_INCLUDE_DIRS})
  target_compile_options(${PM_TARGET} PRIVATE -include rte_config.h)
endif()
