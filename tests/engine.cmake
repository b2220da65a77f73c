# Engine tests (CPU): ops, loaders, the tiny DeepSeek-V3.2 model against PyTorch logits.
# Owner: engine (the tokenizer/encoding tests are in enginetext.cmake).
ef_add_test(test_engine SOURCES test_engine.c LIBS ef_engine ef_common TIMEOUT 300)

# The safetensors header / config.json fuzz target. Without EF_FUZZ it runs as a test
# replaying tests/malformed/engine and 20000 deterministic mutations; with -DEF_FUZZ=ON
# (clang) fuzz_safetensors_lf is a libFuzzer binary:
#   mkdir -p corpus && ./tests/fuzz_safetensors_lf -max_total_time=60 corpus ../tests/malformed/engine
set(EF_ENGINE_PARSE_SRC ${PROJECT_SOURCE_DIR}/engine/safetensors.c
  ${PROJECT_SOURCE_DIR}/engine/config.c ${PROJECT_SOURCE_DIR}/engine/ops_num.c)
ef_add_test(fuzz_safetensors SOURCES fuzz/safetensors_fuzz.c ${EF_ENGINE_PARSE_SRC}
  LIBS ef_common TIMEOUT 120)
if(EF_FUZZ)
  add_executable(fuzz_safetensors_lf fuzz/safetensors_fuzz.c ${EF_ENGINE_PARSE_SRC})
  target_compile_definitions(fuzz_safetensors_lf PRIVATE EF_LIBFUZZER=1)
  target_compile_options(fuzz_safetensors_lf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_safetensors_lf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_safetensors_lf PRIVATE ef_common)
endif()
