# The peer: DPDK's rte_hash (Debian librte-hash, dpdk-dev). Only the include
# paths come from pkg-config; rte_config.h is forced in as DPDK's own flags
# do, without its -march, so our code is built for the same target as the
# library.
pkg_check_modules(PM_DPDK QUIET libdpdk)
find_library(PM_RTE_HASH rte_hash)
find_library(PM_RTE_EAL rte_eal)
if(PM_DPDK_FOUND AND PM_RTE_HASH AND PM_RTE_EAL)
  target_compile_definitions(${PM_TARGET} PRIVATE PM_HAVE_RTE_HASH)
  target_include_directories(${PM_TARGET} SYSTEM PRIVATE ${PM_DPDK_INCLUDE_DIRS})
  target_compile_options(${PM_TARGET} PRIVATE -include rte_config.h)
  target_link_libraries(${PM_TARGET} PRIVATE ${PM_RTE_HASH} ${PM_RTE_EAL})
else()
  message(STATUS "bench/demux: DPDK not found, rte_hash comparison disabled")
endif()
