# The peer: Debian's liblwip (lwIP 2.1), two netifs wired back to back.
pkg_check_modules(PM_LWIP QUIET lwip)
if(PM_LWIP_FOUND)
  target_compile_definitions(${PM_TARGET} PRIVATE PM_HAVE_LWIP)
  target_include_directories(${PM_TARGET} SYSTEM PRIVATE ${PM_LWIP_INCLUDE_DIRS})
  target_link_libraries(${PM_TARGET} PRIVATE ${PM_LWIP_LDFLAGS})
endif()
