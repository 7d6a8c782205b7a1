# Helpers shared by the module CMakeLists.

# mozart_module(NAME SOURCES ... DEPS ...): one static library per stage of the data flow.
function(mozart_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mozart_${name} STATIC ${M_SOURCES})
  target_include_directories(mozart_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(mozart_${name} PUBLIC ${M_DEPS})
endfunction()

# mozart_embed(TARGET NAMESPACE FUNCTION GLOB): compile the files matching GLOB into TARGET as
# (stem, text) pairs returned by NAMESPACE::FUNCTION().
function(mozart_embed target namespace function glob)
  file(GLOB files CONFIGURE_DEPENDS ${glob})
  list(SORT files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${function}.cpp)
  list(JOIN files "|" joined)  # a ';' would split the command line
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAMESPACE=${namespace} -DFUNCTION=${function}
            "-DFILES=${joined}" -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding ${function}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
