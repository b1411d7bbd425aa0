/* Runs a libFuzzer harness without libFuzzer (gcc builds, the unit suite):
 * first every file named on the command line (a corpus), then --runs N
 * inputs from a fixed-seed generator, so that a run is the same every time
 * and a failure can be replayed. Inputs are mutations of the corpus files
 * when there are some (bytes flipped, cut, spliced), random bytes when not.
 *   driver [--runs N] [--seed S] [FILE...] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT 4096
#define MAX_SEEDS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64*: enough to spread inputs; not for anything secret */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f) {
        fprintf(stderr, "fuzz driver: cannot open %s\n", path);
        exit(2);
    }
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    static uint8_t seeds[MAX_SEEDS][MAX_INPUT];
    static size_t seed_len[MAX_SEEDS];
    static uint8_t buf[MAX_INPUT];
    unsigned long runs = 1000, nseeds = 0;
    uint64_t seed = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (nseeds < MAX_SEEDS) {
            seed_len[nseeds] = read_file(argv[i], seeds[nseeds], MAX_INPUT);
            LLVMFuzzerTestOneInput(seeds[nseeds], seed_len[nseeds]);
            nseeds++;
        }
    }
    rng_state = seed ? seed : 1;
    for (unsigned long r = 0; r < runs; r++) {
        size_t n;

        if (nseeds && rng() % 4) {
            unsigned long s = rng() % nseeds;
            n = seed_len[s];
            memcpy(buf, seeds[s], n);
            for (unsigned k = 0, flips = 1 + rng() % 8; k < flips && n; k++)
                buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
            if (rng() % 2 && n < MAX_INPUT) { /* splice a piece of another seed on */
                unsigned long o = rng() % nseeds;
                size_t take = seed_len[o] ? rng() % seed_len[o] : 0;
                if (take > MAX_INPUT - n)
                    take = MAX_INPUT - n;
                memcpy(buf + n, seeds[o], take);
                n += take;
            }
        } else {
            n = rng() % 512;
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)rng();
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz driver: %lu corpus inputs and %lu generated inputs (seed %llu) ran clean\n",
           nseeds, runs, (unsigned long long)seed);
    return 0;
}
