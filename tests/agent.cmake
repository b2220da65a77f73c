# The agent: conversations, models (replay, http against a flaky local server, oracle),
# the episode loop and the runner.
ef_add_test(test_agent SOURCES test_agent.c agent_testenv.c LIBS ef_agent ef_tools ef_common
            TIMEOUT 120)
# `envforge run` end to end: oracle, shards, scripted end reasons, SIGKILL and resume.
add_test(NAME test_agent_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_agent_cli.sh)
set_tests_properties(test_agent_cli PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
  ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BUILD_DIR=${PROJECT_BINARY_DIR};EF_BIN=$<TARGET_FILE:envforge>")
