ef_add_test(test_grpo SOURCES test_grpo.c ${PROJECT_SOURCE_DIR}/datasets/grpo.c LIBS ef_common)
