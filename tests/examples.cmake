# The example environments' verification, where it runs untrusted answers (code envs).
ef_add_test(test_code_envs SOURCES test_code_envs.c LIBS ef_envgen ef_verifiers ef_datasets
  ef_sandbox ef_common LABELS sandbox TIMEOUT 180)
set_tests_properties(test_code_envs PROPERTIES RESOURCE_LOCK sandbox_uid)

# The example environments' rules: pinned task hashes, every level kept, and verifiers
# that score an agent ignoring a rule 0 (bank's policy, courses' optimum, repo_fix's
# untouched tests and whole fix, which run the real sandbox).
ef_add_test(test_examples SOURCES test_examples.c LIBS ef_envgen ef_verifiers ef_datasets
  ef_sandbox ef_common LABELS sandbox TIMEOUT 180)
set_tests_properties(test_examples PROPERTIES RESOURCE_LOCK sandbox_uid)
