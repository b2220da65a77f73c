# The engine's text side: tokenizer.json (engine/tokenizer.c) and the DeepSeek-V3.2 chat
# encoding / DSML parser (engine/encoding*.c). Owner: enginetext.
# The tests compile these sources directly (not through ef_engine), so they build and run
# while the rest of the engine is in flux, and link only what they use.
pkg_check_modules(EFT_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
set(EFT_TOK_SRC ${PROJECT_SOURCE_DIR}/engine/tokenizer.c)
ef_add_test(test_tokenizer SOURCES test_tokenizer.c ${EFT_TOK_SRC}
  LIBS ef_common PkgConfig::EFT_PCRE2 TIMEOUT 120)
set(EFT_ENC_SRC ${PROJECT_SOURCE_DIR}/engine/encoding.c ${PROJECT_SOURCE_DIR}/engine/encoding_pyjson.c)
ef_add_test(test_encoding SOURCES test_encoding.c ${EFT_ENC_SRC} LIBS ef_common TIMEOUT 120)

# Fuzz targets: without EF_FUZZ each runs as a test that replays seeds and deterministic
# mutations; with -DEF_FUZZ=ON (clang) they are libFuzzer binaries:
#   ./tests/fuzz_dsml_lf -max_total_time=60 ; ./tests/fuzz_tokenizer_lf ...
ef_add_test(fuzz_dsml SOURCES fuzz/dsml_fuzz.c ${EFT_ENC_SRC} LIBS ef_common TIMEOUT 120)
ef_add_test(fuzz_tokenizer SOURCES fuzz/tokenizer_fuzz.c ${EFT_TOK_SRC}
  LIBS ef_common PkgConfig::EFT_PCRE2 TIMEOUT 120)
if(EF_FUZZ)
  set(EFT_FUZZ_SRC_dsml ${EFT_ENC_SRC})
  set(EFT_FUZZ_SRC_tokenizer ${EFT_TOK_SRC})
  foreach(t dsml tokenizer)
    add_executable(fuzz_${t}_lf fuzz/${t}_fuzz.c ${EFT_FUZZ_SRC_${t}})
    target_compile_definitions(fuzz_${t}_lf PRIVATE EF_LIBFUZZER=1)
    target_compile_options(fuzz_${t}_lf PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_${t}_lf PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_${t}_lf PRIVATE ef_common PkgConfig::EFT_PCRE2)
  endforeach()
endif()
