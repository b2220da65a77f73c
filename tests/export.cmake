# Export, stats and report (datasets/export.h): the C test on fixture stores built through
# the store API, the fixture maker the Python tests and the bench use, and the Python
# acceptance tests (Hugging Face datasets + chat template, rl consistency, Parquet,
# headless Chromium), which exit 77 when their package or browser is absent.
add_library(ef_export_fixture STATIC ${CMAKE_CURRENT_SOURCE_DIR}/export_fixtures/store_fixture.c)
target_link_libraries(ef_export_fixture PUBLIC ef_datasets ef_common)
target_include_directories(ef_export_fixture PUBLIC ${PROJECT_SOURCE_DIR})
ef_add_test(test_export SOURCES test_export.c LIBS ef_export_fixture ef_datasets ef_common
            TIMEOUT 300)
add_dependencies(test_export envforge)
add_executable(export_make_store export_fixtures/make_store.c)
target_link_libraries(export_make_store PRIVATE ef_export_fixture)
foreach(t test_export_hf test_export_rl test_export_parquet test_report_chromium)
  add_test(NAME ${t} COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/${t}.py)
  set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "EF_SOURCE_DIR=${PROJECT_SOURCE_DIR};EF_BUILD_DIR=${PROJECT_BINARY_DIR};EF_BIN=$<TARGET_FILE:envforge>;EF_MAKE_STORE=$<TARGET_FILE:export_make_store>")
endforeach()
