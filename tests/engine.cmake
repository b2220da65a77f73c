# Engine tests (CPU): ops, loaders, the tiny DeepSeek-V3.2 model against PyTorch logits.
ef_add_test(test_engine SOURCES test_engine.c LIBS ef_engine ef_common TIMEOUT 300)
