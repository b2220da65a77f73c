/*
 * engine/engine_stub.c — placeholder until the engine capability lands; removed by it.
 */
#include "engine/engine.h"

int ef_engine_available(void)
{
    return 0;
}

const char *ef_engine_missing(void)
{
    return "the engine component (the DeepSeek-V3.2 (DSA) inference engine: loading, forward, sampling, encoding) has not landed yet";
}
