/*
 * tests/agent_testenv.h — a small env written in C for the agent's tests: tasks
 * {"prompt": "Add A and B.", "answer": "A+B", "meta": {"a": A, "b": B}}, tools `add`
 * {a: integer, b: integer}, `fail` (always errors) and `ping` (no arguments), a
 * reference solver that calls add
 * once, and a verifier comparing the answer with task.answer.
 */
#ifndef EF_TEST_AGENT_TESTENV_H
#define EF_TEST_AGENT_TESTENV_H

#include "agent/agent.h"

int agent_testenv_open(void *ud, ef_ctx *ctx, int64_t env_id, ef_agent_env **out);
/* A task's JSON for a + b (ef_free). */
char *agent_testenv_task(int a, int b);

#endif
