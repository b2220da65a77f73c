/*
 * envgen/envgen_stub.c — placeholder until the envgen capability lands; removed by it.
 */
#include "envgen/envgen.h"

int ef_envgen_available(void)
{
    return 0;
}

const char *ef_envgen_missing(void)
{
    return "the envgen component (the Lua runtime and env API, task generation, validation, dedup, levels) has not landed yet";
}
