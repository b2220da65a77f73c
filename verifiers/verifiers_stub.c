/*
 * verifiers/verifiers_stub.c — placeholder until the verifiers capability lands; removed by it.
 */
#include "verifiers/verifiers.h"

int ef_verifiers_available(void)
{
    return 0;
}

const char *ef_verifiers_missing(void)
{
    return "the verifiers component (reward functions: exact, numeric, regex, JSON, state match, unit tests, Lua) has not landed yet";
}
