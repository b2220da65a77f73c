# The agent: conversations, models (replay, http against a flaky local server, oracle),
# the episode loop and the runner.
ef_add_test(test_agent SOURCES test_agent.c agent_testenv.c LIBS ef_agent ef_tools ef_common
            TIMEOUT 120)
# `envforge run` end to end: oracle, shards, scripted end reasons, SIGKILL and resume.
add_test(NAME test_agent_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_agent_cli.sh)
set_tests_properties(test_agent_cli PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
  ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BUILD_DIR=${PROJECT_BINARY_DIR};EF_BIN=$<TARGET_FILE:envforge>")
# Fuzz target over what models send (responses, arguments, DSML) and the loop acting on it.
# Without EF_FUZZ it replays the misbehave script and 10000 deterministic mutations; with
# -DEF_FUZZ=ON (clang) it is a libFuzzer binary: ./tests/fuzz_agent_episode_lf
ef_add_test(fuzz_agent_episode SOURCES agent_fuzz/episode_fuzz.c agent_testenv.c
            LIBS ef_agent ef_common TIMEOUT 300)
if(EF_FUZZ)
  add_executable(fuzz_agent_episode_lf agent_fuzz/episode_fuzz.c agent_testenv.c)
  target_compile_definitions(fuzz_agent_episode_lf PRIVATE EF_LIBFUZZER=1 _GNU_SOURCE)
  target_compile_options(fuzz_agent_episode_lf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_agent_episode_lf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_agent_episode_lf PRIVATE ef_agent ef_common m)
endif()
# `envforge run` and a run's settings: resumes with other settings refused, the default
# name's settings hash, usage errors before any run, model_error exit and retry on resume.
add_test(NAME test_agent_run_settings COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_agent_run_settings.sh)
set_tests_properties(test_agent_run_settings PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
  ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BUILD_DIR=${PROJECT_BINARY_DIR};EF_BIN=$<TARGET_FILE:envforge>")
