/*
 * agent/agent_stub.c — placeholder until the agent capability lands; removed by it.
 */
#include "agent/agent.h"

int ef_agent_available(void)
{
    return 0;
}

const char *ef_agent_missing(void)
{
    return "the agent component (conversations, tool-call parsing, model backends, the episode loop, the runner) has not landed yet";
}
