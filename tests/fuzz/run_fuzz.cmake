# Runs one libFuzzer target for a bounded time on a fresh copy of its seed corpus.
#   cmake -DFUZZER=<binary> -DCORPUS=<seed dir> -DWORKDIR=<scratch dir> -DSECONDS=<n>
#         -P run_fuzz.cmake
# New inputs go to WORKDIR/corpus, crash reproducers to WORKDIR/artifacts.
foreach(var FUZZER CORPUS WORKDIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORKDIR}/corpus)
file(MAKE_DIRECTORY ${WORKDIR}/corpus ${WORKDIR}/artifacts)
file(COPY ${CORPUS}/ DESTINATION ${WORKDIR}/corpus)

execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -print_final_stats=1
          -artifact_prefix=${WORKDIR}/artifacts/ ${WORKDIR}/corpus
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); reproducers in ${WORKDIR}/artifacts")
endif()
