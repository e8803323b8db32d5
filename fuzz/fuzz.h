/* fuzz.h — what every fuzz target shares: the libFuzzer entry point (also
 * called by fuzz/replay.c, the plain-compiler driver that replays the
 * committed corpus and regression inputs in `make check`) and the check
 * that turns a broken property into a crash the fuzzer keeps. */
#ifndef PROXIMITY_FUZZ_H
#define PROXIMITY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; returns 0 (libFuzzer's contract). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold for every input: abort() with the reason, so
 * libFuzzer saves the input and the replay driver fails. */
#define FUZZ_CHECK(cond, ...)                                                          \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#endif
