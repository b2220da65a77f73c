# Sampling, constrained decoding, the batch scheduler, the engine:DIR backend and
# `envforge serve` (engine/sample*, constrain*, batch*, serve*, server*). Owner: serve.
ef_add_test(test_sample SOURCES test_sample.c LIBS ef_engine ef_common TIMEOUT 120)
ef_add_test(test_constrain SOURCES test_constrain.c LIBS ef_engine ef_tools ef_common TIMEOUT 600)
if(EF_SANITIZE)
  set_property(TEST test_constrain APPEND PROPERTY ENVIRONMENT "EF_CONSTRAIN_N=128")
endif()
set_tests_properties(test_constrain PROPERTIES TIMEOUT 1200)
