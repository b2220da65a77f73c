# tools/: the registry, schemas, editor, corpus, git, submit, the CLI listing (test_tools);
# the HTTP search backend and fetch's address policy against servers on 127.0.0.1
# (test_tools_net); python and bash in the sandbox (test_tools_sandbox).
ef_add_test(test_tools SOURCES test_tools.c LIBS ef_tools ef_common TIMEOUT 120)
ef_add_test(test_tools_net SOURCES test_tools_net.c LIBS ef_tools ef_common Threads::Threads TIMEOUT 120)
ef_add_test(test_tools_sandbox SOURCES test_tools_sandbox.c LIBS ef_tools ef_common TIMEOUT 180)
# Benchmark (run by tests/bench/tools.sh, not by CTest).
add_executable(bench_tools ${CMAKE_CURRENT_SOURCE_DIR}/bench/tools_bench.c)
target_link_libraries(bench_tools PRIVATE ef_tools ef_common)
# The tools that run in the sandbox (and the rest) as an unprivileged user (nobody), which
# enters a user namespace of its own (sandbox/rootless.c); leaks are checked by the root
# runs above (LeakSanitizer cannot stop a non-dumpable process).
foreach(t test_tools test_tools_sandbox)
  add_test(NAME ${t}_rootless COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_unprivileged.sh
    $<TARGET_FILE:${t}>)
  set_tests_properties(${t}_rootless PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 240
    RESOURCE_LOCK sandbox_uid
    ENVIRONMENT "EF_BIN=$<TARGET_FILE:envforge>;ASAN_OPTIONS=detect_leaks=0")
endforeach()
