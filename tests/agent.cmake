# The agent: conversations, models (replay, http against a flaky local server, oracle),
# the episode loop and the runner.
ef_add_test(test_agent SOURCES test_agent.c agent_testenv.c LIBS ef_agent ef_common
            TIMEOUT 120)
