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
