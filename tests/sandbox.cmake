# Sandbox tests: features and result fields (test_sandbox), the attack suite
# (test_sandbox_attacks, hostile programs from tests/sandbox_attacks/).
add_executable(sbx_attack ${CMAKE_CURRENT_SOURCE_DIR}/sandbox_attacks/attack.c)
# The hostile program runs inside the sandbox: no sanitizer runtime there.
target_compile_options(sbx_attack PRIVATE -fno-sanitize=all -O1)
target_link_options(sbx_attack PRIVATE -fno-sanitize=all)

ef_add_test(test_sandbox SOURCES test_sandbox.c LIBS ef_sandbox ef_common Threads::Threads
  LABELS sandbox TIMEOUT 120)
target_compile_definitions(test_sandbox PRIVATE ATTACK_BIN="$<TARGET_FILE:sbx_attack>")
add_dependencies(test_sandbox sbx_attack)

ef_add_test(test_sandbox_attacks SOURCES test_sandbox_attacks.c LIBS ef_sandbox ef_common
  Threads::Threads LABELS sandbox TIMEOUT 180)
target_compile_definitions(test_sandbox_attacks PRIVATE ATTACK_BIN="$<TARGET_FILE:sbx_attack>")
add_dependencies(test_sandbox_attacks sbx_attack)

# Benchmark (run by tests/bench/sandbox.sh, not by CTest).
add_executable(bench_sandbox ${CMAKE_CURRENT_SOURCE_DIR}/bench/sandbox_bench.c)
target_link_libraries(bench_sandbox PRIVATE ef_sandbox ef_common Threads::Threads)
