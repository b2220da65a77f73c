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

# The same two suites as an unprivileged user (nobody), which enters a user namespace of
# its own (sandbox/rootless.c). LeakSanitizer cannot stop a non-dumpable process's threads,
# and rootless mode keeps the process non-dumpable on purpose: leaks are checked by the
# root runs of the same code above.
foreach(t test_sandbox test_sandbox_attacks)
  add_test(NAME ${t}_rootless COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_unprivileged.sh
    $<TARGET_FILE:${t}>)
  set_tests_properties(${t}_rootless PROPERTIES SKIP_RETURN_CODE 77 LABELS sandbox
    TIMEOUT 240 RESOURCE_LOCK sandbox_uid
    ENVIRONMENT "EF_BIN=$<TARGET_FILE:envforge>;EF_ATTACK_BIN=$<TARGET_FILE:sbx_attack>;ASAN_OPTIONS=detect_leaks=0")
endforeach()

# Benchmark (run by tests/bench/sandbox.sh, not by CTest).
add_executable(bench_sandbox ${CMAKE_CURRENT_SOURCE_DIR}/bench/sandbox_bench.c)
target_link_libraries(bench_sandbox PRIVATE ef_sandbox ef_common Threads::Threads)
