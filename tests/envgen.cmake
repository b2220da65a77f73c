# envgen and verifiers tests (envgen/, verifiers/).
ef_add_test(test_verifiers SOURCES test_verifiers.c LIBS ef_verifiers ef_sandbox ef_common TIMEOUT 120)
ef_add_test(test_envgen SOURCES test_envgen.c LIBS ef_envgen ef_verifiers ef_datasets ef_sandbox ef_common TIMEOUT 300)
