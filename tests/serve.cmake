# Sampling, constrained decoding, the batch scheduler, the engine:DIR backend and
# `envforge serve` (engine/sample*, constrain*, batch*, serve*, server*). Owner: serve.
ef_add_test(test_sample SOURCES test_sample.c LIBS ef_engine ef_common TIMEOUT 120)
ef_add_test(test_constrain SOURCES test_constrain.c LIBS ef_engine ef_tools ef_common TIMEOUT 600)
if(EF_SANITIZE)
  set_property(TEST test_constrain APPEND PROPERTY ENVIRONMENT "EF_CONSTRAIN_N=32")
endif()
set_tests_properties(test_constrain PROPERTIES TIMEOUT 1200)

# The official openai client against `envforge serve` on the tiny model (exit 77 without it).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_serve COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_serve.py)
  set_tests_properties(test_serve PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BUILD_DIR=${PROJECT_BINARY_DIR};EF_BIN=$<TARGET_FILE:envforge>")
endif()

# `envforge run` through `envforge serve` and through engine:DIR: identical token streams.
add_test(NAME test_serve_run COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_serve_run.sh)
set_tests_properties(test_serve_run PROPERTIES TIMEOUT 600
  ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BIN=$<TARGET_FILE:envforge>")
