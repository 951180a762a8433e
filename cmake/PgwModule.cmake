# pgw_module(NAME name DEPS libs...): a static library pgw_<name> from every
# *.c in the current folder except main.c, registered for the test binaries.
function(pgw_module)
	cmake_parse_arguments(M "" "NAME" "DEPS" ${ARGN})
	file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
	list(FILTER srcs EXCLUDE REGEX "/main\\.c$")
	if(NOT srcs)
		return()
	endif()
	add_library(pgw_${M_NAME} STATIC ${srcs} ${M_EXTRA_SOURCES})
	target_link_libraries(pgw_${M_NAME} PUBLIC pgw_common ${M_DEPS})
	set_property(GLOBAL APPEND PROPERTY PGW_MODULE_LIBS pgw_${M_NAME})
endfunction()
