# The envforge command line as a user drives it (cli/): real binaries on real files in a
# temporary directory. test_cli_outputs: -o never destroys the store or an existing file
# (gen, export, report, corpus build); test_cli_store_open: a foreign or empty SQLite
# file is refused before anything in it changes; test_cli_numbers: strict number flags
# (cli/parse.c); test_cli_polish: exit codes and messages of the review's smaller items;
# test_cli_merge: `envforge merge` on stores made by gen and run (groups, settings,
# failed episodes, inputs that are not stores); test_cli_stats: stats (tool-error
# figures, --by run) and report --max-episodes on real runs; test_cli_gen_import:
# --from-jsonl with bad lines on a real store (named by file:line and field; nothing from
# the file stored, the store as it was).
foreach(t test_cli_outputs test_cli_store_open test_cli_numbers test_cli_polish test_cli_merge
          test_cli_stats test_cli_gen_import)
  add_test(NAME ${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh)
  set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS cli
    ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BIN=$<TARGET_FILE:envforge>;EF_MAKE_STORE=$<TARGET_FILE:export_make_store>")
endforeach()
