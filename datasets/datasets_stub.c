/*
 * datasets/datasets_stub.c — placeholder until the datasets capability lands; removed by it.
 */
#include "datasets/datasets.h"

int ef_datasets_available(void)
{
    return 0;
}

const char *ef_datasets_missing(void)
{
    return "the datasets component (the SQLite store: schema, migrations, writer; export, stats, merge) has not landed yet";
}
