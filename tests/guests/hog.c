// A guest that uses as much of one resource as it is told, to test that
// `up` bounds it: `hog memory MIB` exits 0 only if it could allocate MIB
// MiB, `hog cpu N` computes for N million steps and exits 0, `hog output
// MIB` writes MIB MiB (plus 100 bytes) with no newline, then "\nwrote\n",
// and sleeps; `hog sleep S` sleeps S seconds.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: hog memory MIB|cpu N|output MIB|sleep S\n");
    return 2;
  }
  const char *what = argv[1];
  long n = atol(argv[2]);
  if (!strcmp(what, "memory")) {
    static char *blocks[4096];
    if (n < 0 || n > 4096)
      return 2;
    for (long i = 0; i < n; i++) {
      blocks[i] = malloc(1 << 20);
      if (!blocks[i])
        return 1;
      memset(blocks[i], (int)i, 1 << 20);
    }
    return 0;
  }
  if (!strcmp(what, "cpu")) {
    volatile unsigned long sum = 0;
    for (long i = 0; i < n * 1000000L; i++)
      sum += (unsigned long)i;
    return sum == 1 ? 3 : 0;
  }
  if (!strcmp(what, "output")) {
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    for (long i = 0; i < n * 16; i++)
      if (fwrite(block, 1, sizeof block, stdout) != sizeof block)
        return 1;
    if (fwrite(block, 1, 100, stdout) != 100)
      return 1;
    printf("\nwrote\n");
    fflush(stdout);
    for (;;)
      sleep(3600);
  }
  if (!strcmp(what, "sleep")) {
    printf("sleeping\n");
    fflush(stdout);
    sleep((unsigned)n);
    return 0;
  }
  fprintf(stderr, "hog: unknown resource %s\n", what);
  return 2;
}
